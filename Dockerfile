# syntax=docker/dockerfile:1
# hypha-k8s-worker image: built with Maven, run as a fat jar on a JRE by a non-root user.
#   docker build -t <registry>/hypha-k8s-worker:<version> .
# The base images are build arguments so that a machine without a registry can substitute
# equivalents (scripts/images.sh builds the image with Debian's JDK, Maven and JRE):
#   BUILD_IMAGE: a JDK 17 with Maven on PATH; RUNTIME_IMAGE: a JRE 17 with java, groupadd and useradd on PATH.
ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-17
ARG RUNTIME_IMAGE=eclipse-temurin:17-jre

FROM ${BUILD_IMAGE} AS build
WORKDIR /build
COPY pom.xml ./
COPY conf/config.yaml conf/config.yaml
# the tests are neither copied nor compiled: the image needs only the jar
COPY src/main src/main
# the cache mount keeps the Maven repository between builds without putting it in a layer
RUN --mount=type=cache,target=/root/.m2 mvn -B -Dmaven.test.skip=true package

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="hypha-k8s-worker" \
      org.opencontainers.image.description="Launches Kubernetes Jobs for Hypha callers"
# a fixed numeric uid/gid (the Helm chart's runAsUser) so that runAsNonRoot can be verified
RUN groupadd --system --gid 10001 worker \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin worker
WORKDIR /app
# owned by root and not writable by the worker; the root filesystem may be read-only
COPY --from=build /build/target/hypha-k8s-worker-*-fat.jar /app/app.jar
# Class data sharing: the classes a worker loads until it is ready (src/main/cds/classlist, recorded
# by scripts/cds-classlist.sh), parsed and verified once here instead of at every start. A class
# missing from the list is loaded as usual; an archive that does not match the jar is ignored.
COPY src/main/cds/classlist /app/cds.classlist
# (Builders that rewrite file timestamps on export, e.g. BuildKit's rewrite-timestamp, make the JVM
# ignore the archive: it is tied to the jar's modification time.)
RUN java -Xshare:dump -XX:SharedClassListFile=/app/cds.classlist -XX:SharedArchiveFile=/app/app.jsa -cp /app/app.jar >/dev/null \
 && java -Xshare:on -XX:SharedArchiveFile=/app/app.jsa -XX:+PrintSharedArchiveAndExit -cp /app/app.jar | grep -q "archive is valid"
USER 10001:10001
EXPOSE 8080
# Memory bounds measured with docs/benchmarks.md's footprint run (1000 tracked sessions fit in a
# fraction of this heap); scripts/bench-worker.sh runs the worker with this same line. The Helm
# value jvmOptions replaces it. Serial GC: one worker thread and no per-core GC structures on a
# process whose heap is small; two malloc arenas instead of eight per core for the JVM's own allocations.
# C1 only (TieredStopAtLevel=1): the worker mostly waits, and C2's compilations cost more CPU than
# they save and leave their memory with malloc; the native heap is given back to the system every 5 s.
ENV JAVA_TOOL_OPTIONS="-XX:SharedArchiveFile=/app/app.jsa -XX:+UseSerialGC -Xms16m -Xmx192m -Xss512k -XX:MaxMetaspaceSize=128m -XX:ReservedCodeCacheSize=64m -XX:TieredStopAtLevel=1 -XX:+UnlockExperimentalVMOptions -XX:TrimNativeHeapInterval=5000 -XX:+ExitOnOutOfMemoryError" \
    MALLOC_ARENA_MAX=2
# exec form: java is PID 1 and gets SIGTERM, so the worker leaves Hypha cleanly.
# Only /tmp has to be writable (JVM perf data, Vert.x file cache). An OutOfMemoryError ends the
# process so that Kubernetes restarts it.
# The config file path (e.g. /etc/hypha-k8s-worker/config.yaml) is the first argument; without
# one the defaults inside the jar apply.
ENTRYPOINT ["java", "-XX:+ExitOnOutOfMemoryError", "-Djava.io.tmpdir=/tmp", "-jar", "/app/app.jar"]
