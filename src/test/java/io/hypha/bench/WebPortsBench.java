package io.hypha.bench;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;

/**
 * A session's web port through the worker's proxy (Hypha's {@code /apps/} URL, Hypha's ASGI calls,
 * the worker's Web Client) next to the same requests sent straight to the pod in the same run:
 * requests per second, p50 and p99, for small responses and 10 MiB downloads and uploads, and the
 * worker's CPU per proxied request. The app is src/test/resources/py/web_app.py in python:3.11 on
 * the real node. Run by {@code scripts/bench-ports.sh}; prints Markdown.
 */
public final class WebPortsBench {

    private static final String SERVICE = "bench-web-" + Long.toString(System.nanoTime(), 36);
    private static final int MIB = 1024 * 1024;

    private final HyphaTestServer hypha = HyphaTestServer.shared();
    private final KubernetesClient kube = KubeCluster.adminClient();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final StringBuilder report = new StringBuilder();
    private WorkerProcess worker;
    private String token;

    public static void main(String[] args) throws Exception {
        boolean quick = args.length > 0 && args[0].equals("--quick");
        WebPortsBench bench = new WebPortsBench();
        try {
            bench.run(quick);
        } finally {
            System.out.println(bench.report);
            System.exit(0);
        }
    }

    private record Case(String name, String method, String path, byte[] body, int concurrency, int requests) {
    }

    private record Result(double perSecond, double p50Ms, double p99Ms, double mibPerSecond) {
    }

    private void run(boolean quick) throws Exception {
        String namespace = "bench-ports-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        PythonPeer py = null;
        try {
            Map<String, String> env = new HashMap<>(WorkerProcess.imageJvmEnv());
            env.putAll(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(), "HYPHA_K8S_NAMESPACE", namespace,
                    "KUBECONFIG", KubeCluster.kubeconfigPath().toString(), "HYPHA_SERVICE_ID", "bench-ports-worker",
                    "HYPHA_K8S_WORKER_KUBERNETES_JOB_NODE_SELECTOR", "hypha.test/node=real",
                    "HYPHA_K8S_WORKER_KUBERNETES_JOB_TOLERATIONS",
                    "[{\"key\":\"hypha.test/node\",\"operator\":\"Equal\",\"value\":\"real\",\"effect\":\"NoSchedule\"}]"));
            worker = new WorkerProcess(env).start();
            token = hypha.userToken();
            py = hypha.python(Map.of("token", token));
            String ws = py.workspace();
            String app = Files.readString(HyphaTestServer.projectDir().resolve("src/test/resources/py/web_app.py"));
            String session = (String) py.exec("""
                    w = await server.get_service('%s/bench-ports-worker')
                    return await w.start({"manifest": {"type": "k8s-job", "image": "python:3.11",
                        "command": ["python", "-u", "-c", %s, "8000"],
                        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
                        "ports": [{"port": 8000, "name": "http", "service_id": "%s"}],
                        "wait_for_service": True, "service_id": "%s"}})
                    """.formatted(ws, new JsonArray().add(app).encode().replaceAll("^\\[|\\]$", ""), SERVICE, SERVICE),
                    Duration.ofSeconds(180));
            Pod pod = kube.pods().inNamespace(namespace).withLabel(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(session)).list()
                    .getItems().get(0);
            String direct = "http://" + pod.getStatus().getPodIP() + ":8000";
            String proxied = hypha.url() + "/" + ws + "/apps/" + SERVICE;
            byte[] tenMib = new byte[10 * MIB];
            List<Case> cases = List.of(
                    new Case("GET, small response (~300 B)", "GET", "/hello", null, 8, quick ? 200 : 1000),
                    new Case("GET, 10 MiB response", "GET", "/big?mib=10", null, Integer.getInteger("bench.large.concurrency", 2), quick ? 6 : 30),
                    new Case("POST, 10 MiB request body", "POST", "/upload", tenMib, 2, quick ? 6 : 30));
            report.append("| case | path | requests | concurrency | requests/s | p50 ms | p99 ms | MiB/s | worker CPU ms per request |\n");
            report.append("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for (Case c : cases) {
                // a warm-up of each path, so that neither measures connection set-up or JIT alone
                measure(direct, c, Math.max(4, c.requests() / 10), false);
                measure(proxied, c, Math.max(4, c.requests() / 10), true);
                Result d = measure(direct, c, c.requests(), false);
                long cpuBefore = workerCpuMs();
                Result p = measure(proxied, c, c.requests(), true);
                double cpuPerRequest = (workerCpuMs() - cpuBefore) / (double) c.requests();
                row(c, "straight to the pod", d, "—");
                row(c, "through Hypha and the worker", p, String.format(Locale.ROOT, "%.2f", cpuPerRequest));
            }
            py.exec("""
                    w = await server.get_service('%s/bench-ports-worker')
                    await w.stop('%s')
                    """.formatted(ws, session), Duration.ofSeconds(60));
        } finally {
            if (py != null) {
                py.close();
            }
            if (worker != null) {
                worker.close();
            }
            kube.namespaces().withName(namespace).delete();
        }
    }

    private void row(Case c, String path, Result r, String cpu) {
        report.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %.1f | %.1f | %.1f | %s | %s |%n", c.name(), path, c.requests(),
                c.concurrency(), r.perSecond(), r.p50Ms(), r.p99Ms(),
                c.path().equals("/hello") ? "—" : String.format(Locale.ROOT, "%.1f", r.mibPerSecond()), cpu));
    }

    /** {@code count} requests from {@code c.concurrency()} clients at once; every response read to its end. */
    private Result measure(String base, Case c, int count, boolean withToken) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(c.concurrency());
        AtomicInteger left = new AtomicInteger(count);
        List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
        long[] bytes = {0};
        long start = System.nanoTime();
        List<Future<?>> clients = new ArrayList<>();
        for (int i = 0; i < c.concurrency(); i++) {
            clients.add(pool.submit(() -> {
                byte[] buf = new byte[65536];
                while (left.getAndDecrement() > 0) {
                    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + c.path())).timeout(Duration.ofMinutes(2));
                    if (withToken) {
                        b.header("Authorization", "Bearer " + token);
                    }
                    b.method(c.method(), c.body() == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(c.body()));
                    long t0 = System.nanoTime();
                    HttpResponse<InputStream> r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
                    long n = 0;
                    try (InputStream in = r.body()) {
                        int k;
                        while ((k = in.read(buf)) > 0) {
                            n += k;
                        }
                    }
                    if (r.statusCode() / 100 != 2) {
                        throw new IllegalStateException(base + c.path() + " answered " + r.statusCode());
                    }
                    latencies.add(System.nanoTime() - t0);
                    synchronized (bytes) {
                        bytes[0] += n + (c.body() == null ? 0 : c.body().length);
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : clients) {
            f.get();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        pool.shutdown();
        List<Long> sorted = new ArrayList<>(latencies);
        Collections.sort(sorted);
        return new Result(count / seconds, percentile(sorted, 0.50), percentile(sorted, 0.99), bytes[0] / (double) MIB / seconds);
    }

    private static double percentile(List<Long> sorted, double q) {
        int i = (int) Math.min(sorted.size() - 1, Math.max(0, Math.ceil(q * sorted.size()) - 1));
        return sorted.get(i) / 1e6;
    }

    /** The worker process's user and system CPU so far, from /proc (Linux clock ticks of 10 ms). */
    private long workerCpuMs() throws Exception {
        String stat = Files.readString(Path.of("/proc/" + worker.pid() + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10;
    }
}
