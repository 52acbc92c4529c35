package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;

/**
 * Faults on the real Hypha server and control plane, with the worker in its own process and users
 * calling it from the real Python client: Hypha killed and restarted (during a start and while
 * sessions run), the worker killed with SIGKILL at several points of a launch, kube-apiserver
 * restarted, and Hypha unreachable for a while. After each, every session must be reported or
 * cleaned up, and no Job or token Secret may be left behind. Hypha faults use a private server
 * instance ("faults"); the shared kube-apiserver is restarted and left running.
 *
 * {@code -Dfaults.hyphaOutageSeconds=N} shortens the outage of the last test (60 s by default).
 * Figures are printed as {@code faults:} lines.
 */
@Tag("hypha")
@Tag("k8s")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FaultToleranceTest {

    static final int HYPHA_OUTAGE_SECONDS = Integer.getInteger("faults.hyphaOutageSeconds", 60);
    /** Short, so that the test sees a Job left suspended by a killed worker go within seconds. */
    static final int SUSPENDED_GRACE_SECONDS = 5;

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static PythonPeer py;
    static String ws;

    static Map<String, String> workerEnv() {
        return Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(), "HYPHA_K8S_NAMESPACE", namespace,
                "HYPHA_VISIBILITY", "public", "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "HYPHA_K8S_WORKER_KUBERNETES_START_TIMEOUT_SECONDS", "60",
                "HYPHA_K8S_WORKER_KUBERNETES_SUSPENDED_GRACE_SECONDS", String.valueOf(SUSPENDED_GRACE_SECONDS));
    }

    @BeforeAll
    static void setUp() {
        hypha = HyphaTestServer.startPrivate("faults", Map.of());
        kube = KubeCluster.adminClient();
        namespace = "faults-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        worker = new WorkerProcess(workerEnv()).start();
        connectPython();
    }

    @AfterAll
    static void tearDown() {
        if (py != null) {
            py.kill();
        }
        if (worker != null) {
            worker.close();
        }
        if (kube != null && namespace != null) {
            kube.namespaces().withName(namespace).delete();
        }
        if (hypha != null) {
            hypha.stop();
        }
    }

    /** Every test leaves the worker running, ready, and with nothing left in the namespace. */
    @AfterEach
    void nothingIsLeftBehind() {
        Await.until("the worker to be ready again", Duration.ofSeconds(120), () -> "UP".equals(worker.readiness()));
        for (Object id : sessionIds()) {
            worker().exec("await state['w'].stop('%s')".formatted(id));
        }
        Await.until("no Job and no token Secret left in " + namespace, Duration.ofSeconds(60),
                () -> jobs().isEmpty() && secrets().isEmpty());
        assertThat(worker.logText()).doesNotContain("has been blocked for");
    }

    // ------------------------------------------------------------------ helpers

    /** A Python user of the worker's workspace; a new one after Hypha restarts, as a user would reconnect. */
    static void connectPython() {
        if (py != null) {
            py.kill();
        }
        py = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-faults-" + Long.toString(System.nanoTime(), 36)));
        ws = py.workspace();
    }

    /** The worker's service as the Python user finds it: retried while the worker (re)registers. */
    static PythonPeer worker() {
        py.exec("""
                last = None
                for _ in range(150):
                    try:
                        state['w'] = await server.get_service('%s/k8s-worker')
                        await state['w'].list_sessions()
                        return
                    except Exception as e:
                        last = e
                        await asyncio.sleep(0.2)
                raise last
                """.formatted(ws), Duration.ofSeconds(60));
        return py;
    }

    static JsonArray sessionIds() {
        return (JsonArray) worker().exec("return [s['session_id'] for s in await state['w'].list_sessions()]");
    }

    static Map<String, String> sessionStatuses() {
        JsonArray list = (JsonArray) worker().exec("return [[s['session_id'], s['status']] for s in await state['w'].list_sessions()]");
        Map<String, String> out = new LinkedHashMap<>();
        for (Object o : list) {
            JsonArray pair = (JsonArray) o;
            assertThat(out.put(pair.getString(0), pair.getString(1))).as("session %s listed once", pair.getString(0)).isNull();
        }
        return out;
    }

    static String start(String clientId, String image) {
        return (String) worker().exec("""
                return await state['w'].start({"manifest": {"image": "%s"}, "client_id": "%s", "token": "session-token-%s"})
                """.formatted(image, clientId, clientId), Duration.ofSeconds(90));
    }

    /** A start whose outcome the test does not wait for (the worker or Hypha dies under it). */
    static CompletableFuture<Object> startAsync(String clientId, String image) {
        worker();
        return py.execAsync("""
                return await state['w'].start({"manifest": {"image": "%s"}, "client_id": "%s", "token": "session-token-%s"})
                """.formatted(image, clientId, clientId));
    }

    static List<Job> jobs() {
        return kube.batch().v1().jobs().inNamespace(namespace).list().getItems();
    }

    static List<Secret> secrets() {
        return kube.secrets().inNamespace(namespace).withLabel(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE).list().getItems();
    }

    static String sessionOf(HasMetadata o) {
        Map<String, String> a = o.getMetadata().getAnnotations();
        return a == null ? null : a.get(SessionMeta.SESSION_ID);
    }

    static boolean suspended(Job j) {
        return Boolean.TRUE.equals(j.getSpec().getSuspend());
    }

    /** Token Secrets whose owning Job does not exist: what a launch must never leave. */
    static List<String> orphanSecrets() {
        Set<String> jobUids = jobs().stream().map(j -> j.getMetadata().getUid()).collect(Collectors.toSet());
        return secrets().stream().filter(s -> s.getMetadata().getOwnerReferences().stream()
                        .map(OwnerReference::getUid).noneMatch(jobUids::contains))
                .map(s -> s.getMetadata().getName()).toList();
    }

    /**
     * The invariant after every fault: each session Job not being deleted is listed exactly once by
     * the worker, nothing else is listed, no Job stays suspended, and every token Secret belongs to
     * a Job that exists.
     */
    static void everySessionIsReportedOrCleanedUp(String why) {
        Await.until(why + ": every Job listed once, none suspended, no Secret without its Job", Duration.ofSeconds(60), () -> {
            List<Job> live = jobs().stream().filter(j -> j.getMetadata().getDeletionTimestamp() == null).toList();
            Set<String> jobSessions = live.stream().map(FaultToleranceTest::sessionOf).collect(Collectors.toSet());
            Map<String, String> listed = sessionStatuses();
            return live.stream().noneMatch(FaultToleranceTest::suspended) && listed.keySet().equals(jobSessions)
                    && orphanSecrets().isEmpty();
        });
    }

    static long millisSince(long nanos) {
        return (System.nanoTime() - nanos) / 1_000_000;
    }

    /** Runs a repository script with an extra descriptor (7) open on a marker file, as a careless caller would. */
    static String runScriptHoldingADescriptor(Path marker, Map<String, String> env, String... scriptAndArgs) {
        List<String> cmd = new ArrayList<>(List.of("bash", "-c", "exec 7>>\"$0\"; exec bash \"$@\"", marker.toString()));
        cmd.addAll(List.of(scriptAndArgs));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).directory(HyphaTestServer.projectDir().toFile());
        pb.environment().putAll(env);
        try {
            Process p = pb.start();
            // reading to the end also proves that no daemon the script started kept our pipe
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("%s:%n%s", String.join(" ", scriptAndArgs), out).isZero();
            return out;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** The process holds no descriptor on the marker file its starter had open. */
    static void assertHoldsNoDescriptorOn(long pid, Path marker) throws IOException {
        List<String> targets = new ArrayList<>();
        try (var fds = Files.list(Path.of("/proc", String.valueOf(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    targets.add(Files.readSymbolicLink(fd).toString());
                } catch (IOException gone) {
                    // closed while listing
                }
            }
        }
        assertThat(targets).as("descriptors of pid %d", pid).isNotEmpty().doesNotContain(marker.toString());
    }

    static long pidFromFile(Path file) throws IOException {
        return Long.parseLong(Files.readString(file).trim());
    }

    static Path runDir() {
        return Path.of(System.getProperty("user.home"), ".cache", "hypha-k8s-worker", "run");
    }

    /** Polls readiness until it is the expected value; returns how long that took in ms. */
    static long awaitReadiness(String expected, Duration timeout) {
        long t0 = System.nanoTime();
        Await.until("readiness " + expected, timeout, () -> expected.equals(worker.readiness()));
        return millisSince(t0);
    }

    // ------------------------------------------------------------------ Hypha killed and restarted

    @Test
    @Order(1)
    void hyphaKilledDuringAStartAndWhileSessionsRunTheWorkerReregistersAndNothingIsLost() throws Exception {
        String running = start("hy-running", "python:long");
        assertThat(sessionStatuses()).containsEntry(running, "running");
        // a start in flight when the server dies: the pod takes 5 s to run
        CompletableFuture<Object> inFlight = startAsync("hy-inflight", "python:slow");
        Await.until("the in-flight start's Job", Duration.ofSeconds(30), () -> jobs().stream()
                .anyMatch(j -> String.valueOf(sessionOf(j)).endsWith("/hy-inflight")));

        long killed = System.nanoTime();
        hypha.kill();
        long down = awaitReadiness("DOWN", Duration.ofSeconds(30));
        Path marker = Files.createTempFile("faults-hypha-fd", ".marker");
        long restarted = System.nanoTime();
        runScriptHoldingADescriptor(marker, Map.of("HYPHA_INSTANCE", "faults"), "scripts/hypha-server.sh", "restart");
        long serverBack = millisSince(restarted);
        assertHoldsNoDescriptorOn(pidFromFile(runDir().resolve("hypha-faults/pid")), marker);
        long up = awaitReadiness("UP", Duration.ofSeconds(60));
        connectPython();
        long callable = System.nanoTime();
        worker();
        long callableMs = millisSince(callable);

        // the start the outage interrupted: the caller lost its answer, but the session was not lost
        Object inFlightOutcome = inFlight.handle((r, e) -> e == null ? "returned " + r : "failed").getNow("no answer");
        everySessionIsReportedOrCleanedUp("after the Hypha restart");
        Map<String, String> statuses = sessionStatuses();
        assertThat(statuses).containsEntry(running, "running");
        String inFlightSession = ws + "/hy-inflight";
        assertThat(statuses).containsKey(inFlightSession);
        Await.until("the interrupted start's pod to run", Duration.ofSeconds(30),
                () -> "running".equals(sessionStatuses().get(inFlightSession)));
        assertThat(secrets()).hasSize(2);

        // and a new start works
        String after = start("hy-after", "python:long");
        assertThat(sessionStatuses()).containsEntry(after, "running");
        for (String s : List.of(running, inFlightSession, after)) {
            worker().exec("await state['w'].stop('%s')".formatted(s));
        }
        Await.until("the stopped sessions' Jobs and Secrets to go", Duration.ofSeconds(60),
                () -> jobs().isEmpty() && secrets().isEmpty());
        assertThat(sessionIds()).isEmpty();
        System.out.printf("faults: hypha-kill readiness down %d ms after the kill; server back in %d ms (script); worker ready %d ms "
                + "after that; service found by a new client in %d ms; in-flight start: %s; total outage %d ms%n",
                down, serverBack, up, callableMs, inFlightOutcome, millisSince(killed));
    }

    // ------------------------------------------------------------------ worker killed during a start

    enum KillPoint {
        JOB_CREATED("the Job appears"), SECRET_CREATED("the token Secret appears"), JOB_RESUMED("the Job is resumed"),
        POD_CREATED("the pod appears");

        final String description;

        KillPoint(String description) {
            this.description = description;
        }
    }

    @Test
    @Order(2)
    void workerKilledAtEachPointOfALaunchLeavesEverySessionReportedOrCleanedUp() throws Exception {
        List<String> outcomes = new ArrayList<>();
        for (KillPoint point : KillPoint.values()) {
            outcomes.add(killDuringStart(point));
        }
        outcomes.forEach(o -> System.out.println("faults: worker-kill " + o));
    }

    private String killDuringStart(KillPoint point) throws Exception {
        String clientId = "kill-" + point.name().toLowerCase().replace('_', '-');
        String sessionId = ws + "/" + clientId;
        String key = SessionMeta.sessionKey(sessionId);
        long pid = worker.pid();
        CountDownLatch killed = new CountDownLatch(1);
        AtomicReference<String> seen = new AtomicReference<>();
        List<Watch> watches = new ArrayList<>();
        Predicate<HasMetadata> ours = o -> o.getMetadata().getLabels() != null && key.equals(o.getMetadata().getLabels().get(SessionMeta.SESSION_KEY));
        try {
            // SIGKILL from the watch's own thread, the moment the event arrives
            watches.add(kube.batch().v1().jobs().inNamespace(namespace).watch(new Watcher<>() {
                @Override
                public void eventReceived(Action action, Job job) {
                    boolean hit = point == KillPoint.JOB_CREATED && action == Action.ADDED
                            || point == KillPoint.JOB_RESUMED && action != Action.DELETED && !suspended(job);
                    if (ours.test(job) && hit && killed.getCount() > 0) {
                        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                        seen.set(action + " Job (suspend=" + job.getSpec().getSuspend() + ")");
                        killed.countDown();
                    }
                }

                @Override
                public void onClose(WatcherException cause) {
                }
            }));
            watches.add(kube.secrets().inNamespace(namespace).watch(new Watcher<>() {
                @Override
                public void eventReceived(Action action, Secret secret) {
                    if (point == KillPoint.SECRET_CREATED && action == Action.ADDED && ours.test(secret) && killed.getCount() > 0) {
                        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                        seen.set("ADDED Secret");
                        killed.countDown();
                    }
                }

                @Override
                public void onClose(WatcherException cause) {
                }
            }));
            watches.add(kube.pods().inNamespace(namespace).watch(new Watcher<>() {
                @Override
                public void eventReceived(Action action, Pod pod) {
                    if (point == KillPoint.POD_CREATED && action == Action.ADDED && ours.test(pod) && killed.getCount() > 0) {
                        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                        seen.set("ADDED Pod");
                        killed.countDown();
                    }
                }

                @Override
                public void onClose(WatcherException cause) {
                }
            }));
            CompletableFuture<Object> call = startAsync(clientId, "python:long");
            assertThat(killed.await(60, TimeUnit.SECONDS)).as("the worker killed when " + point.description).isTrue();
            worker.kill();
            call.exceptionally(e -> null);
        } finally {
            watches.forEach(Watch::close);
        }
        // what the killed worker left: its launch stopped somewhere between these steps
        Job left = kube.batch().v1().jobs().inNamespace(namespace).withLabel(SessionMeta.SESSION_KEY, key).list().getItems().stream()
                .findFirst().orElse(null);
        boolean secretLeft = !kube.secrets().inNamespace(namespace).withLabel(SessionMeta.SESSION_KEY, key).list().getItems().isEmpty();
        String state = left == null ? "no Job" : suspended(left) ? "Job suspended" : "Job resumed";
        state += secretLeft ? ", Secret" : ", no Secret";

        long restarted = System.nanoTime();
        worker = new WorkerProcess(workerEnv()).start();
        long readyMs = millisSince(restarted);
        everySessionIsReportedOrCleanedUp("after a kill when " + point.description);
        long settledMs = millisSince(restarted);
        Map<String, String> statuses = sessionStatuses();
        String outcome;
        if (statuses.containsKey(sessionId)) {
            outcome = "reported as " + statuses.get(sessionId);
            assertThat(statuses.get(sessionId)).isIn("starting", "running");
            assertThat(kube.secrets().inNamespace(namespace).withLabel(SessionMeta.SESSION_KEY, key).list().getItems())
                    .as("a reported session keeps its token Secret").hasSize(1);
            worker().exec("await state['w'].stop('%s')".formatted(sessionId));
        } else {
            outcome = "cleaned up";
            assertThat(left == null || suspended(left)).as("only a launch that never resumed may vanish").isTrue();
        }
        Await.until("nothing left of " + sessionId, Duration.ofSeconds(60), () -> kube.batch().v1().jobs().inNamespace(namespace)
                .withLabel(SessionMeta.SESSION_KEY, key).list().getItems().isEmpty()
                && kube.secrets().inNamespace(namespace).withLabel(SessionMeta.SESSION_KEY, key).list().getItems().isEmpty());
        return "at '%s' (killed on %s): left %s; restarted worker ready in %d ms; %s, settled %d ms after the restart"
                .formatted(point.description, seen.get(), state, readyMs, outcome, settledMs);
    }

    @Test
    @Order(3)
    void jobsLeftSuspendedAreListedAsStartingThenRemovedWithTheirSecrets() {
        // exactly what a worker killed mid-launch leaves: a suspended Job, with or without its token Secret
        long created = System.nanoTime();
        String withSecret = leaveSuspendedJob("left-with-secret", true);
        String withoutSecret = leaveSuspendedJob("left-without-secret", false);
        Await.until("the suspended sessions to be listed as starting", Duration.ofSeconds(20), () -> {
            Map<String, String> statuses = sessionStatuses();
            return "starting".equals(statuses.get(withSecret)) && "starting".equals(statuses.get(withoutSecret));
        });
        Await.until("the suspended Jobs and the Secret to be removed", Duration.ofSeconds(SUSPENDED_GRACE_SECONDS + 60),
                () -> jobs().isEmpty() && secrets().isEmpty());
        long removedMs = millisSince(created);
        // another replica's launch gets the whole grace period
        assertThat(removedMs).as("not before the grace period").isGreaterThanOrEqualTo(SUSPENDED_GRACE_SECONDS * 1000L);
        assertThat(sessionIds()).doesNotContain(withSecret, withoutSecret);
        assertThat(worker.logText()).contains("launch was interrupted");
        System.out.printf("faults: suspended Jobs left (one with its Secret, one without): listed as starting, all gone %d ms after "
                + "creation (grace %d s)%n", removedMs, SUSPENDED_GRACE_SECONDS);
    }

    private static String leaveSuspendedJob(String clientId, boolean withSecret) {
        String sessionId = ws + "/" + clientId;
        String name = SessionMeta.jobName(sessionId, clientId);
        Map<String, String> labels = Map.of(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE,
                SessionMeta.WORKER, SessionMeta.workerLabel("k8s-worker"), SessionMeta.JOB_TYPE, "k8s-job",
                SessionMeta.SESSION_KEY, SessionMeta.sessionKey(sessionId));
        Job job = kube.batch().v1().jobs().inNamespace(namespace).resource(new JobBuilder()
                .withNewMetadata().withName(name).withLabels(labels).withAnnotations(Map.of(SessionMeta.SESSION_ID, sessionId,
                        SessionMeta.WORKSPACE, ws, SessionMeta.CLIENT_ID, clientId, SessionMeta.APP_ID, "k8s-job",
                        SessionMeta.CREATED_AT, java.time.Instant.now().toString())).endMetadata()
                .withNewSpec().withSuspend(true).withBackoffLimit(0)
                .withNewTemplate().withNewMetadata().withLabels(labels).endMetadata()
                .withNewSpec().withRestartPolicy("Never").addNewContainer().withName(SessionMeta.MAIN_CONTAINER).withImage("python:long")
                .endContainer().endSpec().endTemplate().endSpec().build()).create();
        if (withSecret) {
            kube.secrets().inNamespace(namespace).resource(new SecretBuilder().withNewMetadata().withName(SessionMeta.tokenSecretName(name))
                    .withLabels(labels).withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("batch/v1").withKind("Job")
                            .withName(name).withUid(job.getMetadata().getUid()).withController(false).withBlockOwnerDeletion(false).build())
                    .endMetadata().withStringData(Map.of(SessionMeta.TOKEN_KEY, "t")).build()).create();
        }
        return sessionId;
    }

    // ------------------------------------------------------------------ kube-apiserver restarted

    @Test
    @Order(4)
    void kubeApiserverRestartedNoSessionLostOrDuplicatedAndTheInformersResume() throws Exception {
        String a = start("api-a", "python:long");
        String b = start("api-b", "python:long");
        Map<String, String> before = sessionStatuses();
        assertThat(before).containsEntry(a, "running").containsEntry(b, "running");
        Map<String, String> env = Map.of("K8S_STOP_TIMEOUT", "5");
        long stopped = System.nanoTime();
        try {
            runScriptHoldingADescriptor(Files.createTempFile("faults-unused", ".marker"), env, "scripts/k8s-cluster.sh",
                    "stop-component", "kube-apiserver");
            long down = awaitReadiness("DOWN", Duration.ofSeconds(40));
            // sessions are answered from the informers' view while the API server is away
            assertThat(sessionStatuses()).isEqualTo(before);
            Path marker = Files.createTempFile("faults-apiserver-fd", ".marker");
            long starting = System.nanoTime();
            runScriptHoldingADescriptor(marker, env, "scripts/k8s-cluster.sh", "start-component", "kube-apiserver");
            long apiBack = millisSince(starting);
            assertHoldsNoDescriptorOn(pidFromFile(runDir().resolve("k8s/kube-apiserver.pid")), marker);
            long up = awaitReadiness("UP", Duration.ofSeconds(60));
            Map<String, String> after = sessionStatuses();
            assertThat(after).isEqualTo(before);
            assertThat(jobs()).hasSize(2);

            // the informers resumed: a stop and a new start after the restart are seen
            worker().exec("await state['w'].stop('%s')".formatted(a));
            Await.until("the stop after the restart to be seen", Duration.ofSeconds(30), () -> !sessionStatuses().containsKey(a));
            // kwok and the controller manager resume their own watches with their own backoff (seconds to
            // over a minute here): wait for the control plane to run a Job again, so that what follows
            // measures the worker, not them
            long clusterBack = awaitControlPlaneRunsAJob();
            long newStart = System.nanoTime();
            String c = start("api-c", "python:long");
            long newStartMs = millisSince(newStart);
            assertThat(sessionStatuses()).containsOnlyKeys(b, c).containsEntry(c, "running");
            everySessionIsReportedOrCleanedUp("after the API server restart");
            System.out.printf("faults: kube-apiserver stopped: readiness down %d ms after the stop began; restarted in %d ms; "
                    + "readiness up %d ms later; the control plane ran a Job again %d ms after that; the first start then took %d ms; "
                    + "total %d ms%n", down, apiBack, up, clusterBack, newStartMs, millisSince(stopped));
        } finally {
            // never leave the shared API server down
            runScriptHoldingADescriptor(Files.createTempFile("faults-unused", ".marker"), env, "scripts/k8s-cluster.sh",
                    "start-component", "kube-apiserver");
        }
    }

    /** A probe Job (in another namespace, unknown to the worker) until its pod runs; returns the wait in ms. */
    static long awaitControlPlaneRunsAJob() {
        long t0 = System.nanoTime();
        String name = "faults-probe-" + Long.toString(System.nanoTime(), 36);
        kube.batch().v1().jobs().inNamespace("default").resource(new JobBuilder().withNewMetadata().withName(name).endMetadata()
                .withNewSpec().withBackoffLimit(0).withNewTemplate().withNewSpec().withRestartPolicy("Never")
                .addNewContainer().withName("probe").withImage("python:long").endContainer().endSpec().endTemplate().endSpec()
                .build()).create();
        try {
            Await.until("the control plane to run a Job again", Duration.ofSeconds(240), () -> kube.pods().inNamespace("default")
                    .withLabel("job-name", name).list().getItems().stream()
                    .anyMatch(p -> p.getStatus() != null && "Running".equals(p.getStatus().getPhase())));
            return millisSince(t0);
        } finally {
            kube.batch().v1().jobs().inNamespace("default").withName(name)
                    .withPropagationPolicy(io.fabric8.kubernetes.api.model.DeletionPropagation.BACKGROUND).delete();
        }
    }

    // ------------------------------------------------------------------ Hypha unreachable for a while

    @Test
    @Order(5)
    void hyphaUnreachableForAWhileReadinessGoesDownAndComesBackWithNoManualStep() throws Exception {
        String running = start("outage-running", "python:long");
        long killed = System.nanoTime();
        hypha.kill();
        long down = awaitReadiness("DOWN", Duration.ofSeconds(30));
        // the outage lasts; the worker keeps trying meanwhile and stays not ready
        long outageEnd = killed + TimeUnit.SECONDS.toNanos(HYPHA_OUTAGE_SECONDS);
        while (System.nanoTime() < outageEnd) {
            assertThat(worker.readiness()).isEqualTo("DOWN");
            Thread.sleep(Math.min(1000, Math.max(1, (outageEnd - System.nanoTime()) / 1_000_000)));
        }
        long restarted = System.nanoTime();
        hypha.restart(Map.of());
        long serverBack = millisSince(restarted);
        long up = awaitReadiness("UP", Duration.ofSeconds(60));
        connectPython();
        assertThat(sessionStatuses()).containsEntry(running, "running");
        String after = start("outage-after", "python:long");
        assertThat(sessionStatuses()).containsOnlyKeys(running, after);
        everySessionIsReportedOrCleanedUp("after the outage");
        String log = worker.logText();
        List<Long> delays = new ArrayList<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("reconnecting in (\\d+) ms").matcher(log);
        while (m.find()) {
            delays.add(Long.parseLong(m.group(1)));
        }
        assertThat(delays).as("reconnection attempts during the outage").isNotEmpty();
        assertThat(delays.stream().mapToLong(Long::longValue).max().orElse(0)).as("the reconnect backoff is capped")
                .isLessThanOrEqualTo(11_000);
        System.out.printf("faults: hypha-outage of %d s: readiness down %d ms after the kill; server back in %d ms; worker ready %d ms "
                + "after that; %d reconnect attempts, longest wait %d ms%n", HYPHA_OUTAGE_SECONDS, down, serverBack, up,
                delays.size(), delays.stream().mapToLong(Long::longValue).max().orElse(0));
    }
}
