package io.hypha.testing;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The worker as operators run it: {@code io.hypha.k8sworker.Main} in its own JVM, configured by
 * environment variables, so that tests can kill it with SIGKILL and start it again.
 */
public final class WorkerProcess implements AutoCloseable {

    private final Map<String, String> env;
    private final int healthPort;
    private final Path log;
    private Process process;

    public WorkerProcess(Map<String, String> env) {
        this.env = new LinkedHashMap<>(env);
        this.healthPort = freePort();
        this.env.put("HYPHA_K8S_WORKER_HEALTH_PORT", String.valueOf(healthPort));
        this.env.put("HYPHA_K8S_WORKER_HEALTH_HOST", "127.0.0.1");
        try {
            Path dir = HyphaTestServer.projectDir().resolve("target/worker-logs");
            Files.createDirectories(dir);
            this.log = Files.createTempFile(dir, "worker-", ".log");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Starts the worker and waits until {@code /health/ready} says UP. */
    public WorkerProcess start() {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        // JAVA_TOOL_OPTIONS in the environment (the image's JVM options) sets the heap instead
        if (!env.containsKey("JAVA_TOOL_OPTIONS")) {
            cmd.add("-Xmx256m");
        }
        cmd.addAll(List.of("-cp", classpath, "io.hypha.k8sworker.Main"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().putAll(env);
        try {
            process = pb.start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the worker", e);
        }
        Await.until("the worker to be ready (log: " + log + ")", Duration.ofSeconds(60), () -> {
            if (!process.isAlive()) {
                throw new AssertionError("the worker exited with " + process.exitValue() + ":\n" + logText());
            }
            return "UP".equals(readiness());
        });
        return this;
    }

    /** "UP", "DOWN", or null when nothing answers. */
    public String readiness() {
        try {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + healthPort + "/health/ready")).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.ofString());
            // the body lists each component's own status: a DOWN one among UP ones still says "UP" somewhere
            return r.statusCode() == 200 ? "UP" : "DOWN";
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    public long pid() {
        return process.pid();
    }

    public String metrics() throws IOException, InterruptedException {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + healthPort + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    public boolean isAlive() {
        return process != null && process.isAlive();
    }

    /**
     * The JVM options the image runs the worker with (the Dockerfile's JAVA_TOOL_OPTIONS), minus the
     * class-data archive that exists only in the image.
     */
    public static String imageJvmOptions() {
        return imageJvmEnv().get("JAVA_TOOL_OPTIONS");
    }

    /**
     * JAVA_TOOL_OPTIONS and MALLOC_ARENA_MAX of the Dockerfile, without -XX:SharedArchiveFile: the
     * image's class-data archive matches its jar, not the classpath tests run.
     */
    public static Map<String, String> imageJvmEnv() {
        String dockerfile;
        try {
            dockerfile = Files.readString(HyphaTestServer.projectDir().resolve("Dockerfile")).replace("\\\n", " ");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (String name : List.of("JAVA_TOOL_OPTIONS", "MALLOC_ARENA_MAX")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile(name + "=(\"[^\"]*\"|\\S+)").matcher(dockerfile);
            if (!m.find()) {
                throw new IllegalStateException("the Dockerfile sets no " + name);
            }
            out.put(name, m.group(1).replace("\"", "").replaceAll("-XX:SharedArchiveFile=\\S+\\s*", "").strip());
        }
        return out;
    }

    /** SIGKILL: no shutdown hook runs, nothing is cleaned up. */
    public void kill() {
        process.destroyForcibly();
        waitFor();
    }

    /** SIGTERM: the orderly shutdown. */
    public void terminate() {
        process.destroy();
        waitFor();
    }

    private void waitFor() {
        try {
            process.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "";
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            terminate();
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
