package io.hypha.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.hypha.rpc.ConnectOptions;
import io.hypha.rpc.HyphaClient;
import io.hypha.rpc.RemoteService;
import io.hypha.rpc.RpcFunction;
import io.hypha.rpc.ServiceDefinition;
import io.hypha.rpc.Visibility;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

/**
 * Command line for trying and measuring the Hypha RPC client.
 *
 * <pre>
 * serve-echo --server-url U [--token T] [--service-id echo]     register an echo service until stdin closes
 *            (both commands: --send-rate R sends up to R messages per second, for a server that allows it)
 * bench      --server-url U [--token T] --service ID [--calls N] [--concurrency C] [--payload BYTES] [--warmup W]
 *            call ID.echo N times with C in flight; print one JSON line of latency and throughput
 * </pre>
 */
public final class HyphaRpcCli {

    private HyphaRpcCli() {
    }

    public static void main(String[] argv) throws Exception {
        if (argv.length == 0) {
            usage();
            return;
        }
        Map<String, String> opts = parse(Arrays.copyOfRange(argv, 1, argv.length));
        Vertx vertx = Vertx.vertx();
        try {
            ConnectOptions connect = new ConnectOptions().setServerUrl(require(opts, "server-url"))
                    .setToken(opts.get("token")).setWorkspace(opts.get("workspace"))
                    .setMethodTimeout(Duration.ofSeconds(120))
                    // 64 replies of 1 MiB from one provider at once: let them in (the heap's quarter, at most)
                    .setMaxCachedBytes(Long.MAX_VALUE).setMaxCachedBytesPerSender(Long.MAX_VALUE);
            if (opts.containsKey("send-rate")) {
                // a server started with a higher HYPHA_WS_MSG_RATE_LIMIT lets clients send faster than the default pace
                int rate = Integer.parseInt(opts.get("send-rate"));
                connect.setSendRate(rate, rate, 1_000_000);
            }
            switch (argv[0]) {
                case "serve-echo" -> serveEcho(vertx, connect, opts.getOrDefault("service-id", "echo"));
                case "bench" -> bench(vertx, connect, opts);
                default -> usage();
            }
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    private static void serveEcho(Vertx vertx, ConnectOptions connect, String serviceId) throws Exception {
        HyphaClient client = get(HyphaClient.connect(vertx, connect).toCompletionStage().toCompletableFuture());
        String id = get(client.registerService(ServiceDefinition.builder(serviceId).visibility(Visibility.PUBLIC)
                .function(RpcFunction.of("echo", inv -> inv.arg("x")).param("x")).build()).toCompletionStage().toCompletableFuture());
        System.out.println(new JsonObject().put("ready", true).put("service", id).encode());
        System.out.flush();
        while (System.in.read() >= 0) {
            // serve until stdin closes
        }
        get(client.disconnect().toCompletionStage().toCompletableFuture());
    }

    /** CPU time of the whole process (every thread: event loop, JIT, GC), the client's real cost per call. */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static void bench(Vertx vertx, ConnectOptions connect, Map<String, String> opts) throws Exception {
        int calls = Integer.parseInt(opts.getOrDefault("calls", "2000"));
        int concurrency = Integer.parseInt(opts.getOrDefault("concurrency", "1"));
        int payload = Integer.parseInt(opts.getOrDefault("payload", "16"));
        int warmup = Integer.parseInt(opts.getOrDefault("warmup", String.valueOf(Math.min(500, calls))));
        HyphaClient client = get(HyphaClient.connect(vertx, connect).toCompletionStage().toCompletableFuture());
        RemoteService svc = get(client.getService(require(opts, "service")).toCompletionStage().toCompletableFuture());
        byte[] data = new byte[payload];
        Arrays.fill(data, (byte) 'x');
        Context context = vertx.getOrCreateContext();
        run(context, svc, data, warmup, concurrency);
        long[] latencies = new long[calls];
        long gcStart = gcCollections();
        long jitStart = jitCpuNanos();
        long cpuStart = processCpuNanos();
        long start = System.nanoTime();
        runMeasured(context, svc, data, calls, concurrency, latencies);
        double seconds = (System.nanoTime() - start) / 1e9;
        double cpuMsPerCall = (processCpuNanos() - cpuStart) / 1e6 / calls;
        double gcPer1000 = (gcCollections() - gcStart) * 1000.0 / calls;
        double jitMsPerCall = (jitCpuNanos() - jitStart) / 1e6 / calls;
        Arrays.sort(latencies);
        JsonObject result = new JsonObject()
                .put("client", "java").put("calls", calls).put("concurrency", concurrency).put("payload", payload)
                .put("seconds", seconds).put("calls_per_s", calls / seconds).put("cpu_ms_per_call", cpuMsPerCall)
                .put("gc_per_1000_calls", gcPer1000).put("jit_ms_per_call", jitMsPerCall)
                .put("p50_ms", latencies[calls / 2] / 1e6)
                .put("p99_ms", latencies[Math.min(calls - 1, (int) Math.ceil(calls * 0.99) - 1)] / 1e6);
        System.out.println(result.encode());
        get(client.disconnect().toCompletionStage().toCompletableFuture());
    }

    /**
     * CPU time of the JIT compiler's threads so far (Linux: from /proc; 0 elsewhere). Part of the
     * process's CPU, and a cost a long-running client pays once: a measured span that still holds
     * much of it is not a steady state.
     */
    private static long jitCpuNanos() {
        long ticks = 0;
        try (java.nio.file.DirectoryStream<java.nio.file.Path> tasks =
                     java.nio.file.Files.newDirectoryStream(java.nio.file.Path.of("/proc/self/task"))) {
            for (java.nio.file.Path task : tasks) {
                try {
                    String name = java.nio.file.Files.readString(task.resolve("comm"));
                    if (!name.startsWith("C1 CompilerThre") && !name.startsWith("C2 CompilerThre")) {
                        continue;
                    }
                    String stat = java.nio.file.Files.readString(task.resolve("stat"));
                    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    ticks += Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // utime, stime
                } catch (IOException | RuntimeException e) {
                    // a compiler thread that ended meanwhile (the JVM adds and removes them as needed)
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return ticks * 10_000_000L; // USER_HZ is 100 on Linux
    }

    /** Collections of every collector (young and old) so far. */
    private static long gcCollections() {
        long n = 0;
        for (java.lang.management.GarbageCollectorMXBean gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
            n += Math.max(0, gc.getCollectionCount());
        }
        return n;
    }

    private static void run(Context context, RemoteService svc, byte[] data, int calls, int concurrency) throws Exception {
        runMeasured(context, svc, data, calls, concurrency, new long[calls]);
    }

    /** Keeps {@code concurrency} calls in flight from the event loop until {@code calls} have completed. */
    private static void runMeasured(Context context, RemoteService svc, byte[] data, int calls, int concurrency,
                                    long[] latencies) throws Exception {
        if (calls == 0) {
            return;
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        AtomicInteger started = new AtomicInteger();
        AtomicInteger finished = new AtomicInteger();
        Runnable[] next = new Runnable[1];
        next[0] = () -> {
            int i = started.getAndIncrement();
            if (i >= calls) {
                return;
            }
            long t0 = System.nanoTime();
            svc.call("echo", (Object) data).onComplete(ar -> {
                latencies[i] = System.nanoTime() - t0;
                if (ar.failed()) {
                    done.completeExceptionally(ar.cause());
                    return;
                }
                if (finished.incrementAndGet() == calls) {
                    done.complete(null);
                } else {
                    next[0].run();
                }
            });
        };
        context.runOnContext(v -> {
            for (int k = 0; k < concurrency; k++) {
                next[0].run();
            }
        });
        done.get(30, TimeUnit.MINUTES);
    }

    private static <T> T get(CompletableFuture<T> f) throws Exception {
        return f.get(2, TimeUnit.MINUTES);
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> out = new HashMap<>();
        List<String> rest = new ArrayList<>(Arrays.asList(args));
        for (int i = 0; i < rest.size(); i++) {
            String a = rest.get(i);
            if (!a.startsWith("--") || i + 1 >= rest.size()) {
                throw new IllegalArgumentException("expected --name value pairs, got " + a);
            }
            out.put(a.substring(2), rest.get(++i));
        }
        return out;
    }

    private static String require(Map<String, String> opts, String name) {
        String v = opts.get(name);
        if (v == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return v;
    }

    private static void usage() throws IOException {
        System.out.println("usage: serve-echo --server-url U [--token T] [--service-id ID] [--send-rate R]\n"
                + "       bench --server-url U [--token T] --service ID [--calls N] [--concurrency C] [--payload BYTES] [--warmup W] [--send-rate R]");
    }
}
