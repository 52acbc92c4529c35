package io.hypha.bench;

import java.io.IOException;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.rpc.ConnectOptions;
import io.hypha.rpc.HyphaClient;
import io.hypha.rpc.RemoteService;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.Vertx;

/**
 * The worker's start latency, throughput, API load and footprint, each next to a baseline measured
 * in the same run on the same control plane. Run by {@code scripts/bench-worker.sh}; prints Markdown.
 */
public final class WorkerBench {

    private static final Pattern REQUESTS = Pattern.compile(
            "^apiserver_request_total\\{([^}]*)} ([0-9.e+]+)$", Pattern.MULTILINE);

    private final KubernetesClient kube = KubeCluster.adminClient();
    private final HyphaTestServer hypha = HyphaTestServer.shared();
    private final Vertx vertx = Vertx.vertx();
    private final StringBuilder report = new StringBuilder();

    public static void main(String[] args) throws Exception {
        boolean quick = args.length > 0 && args[0].equals("--quick");
        WorkerBench bench = new WorkerBench();
        try {
            bench.run(quick);
        } finally {
            bench.vertx.close();
        }
        System.out.println(bench.report);
        System.exit(0);
    }

    private void run(boolean quick) throws Exception {
        int latencyRuns = quick ? 10 : 60;
        int throughputSessions = quick ? 60 : 500;
        int trackedSessions = quick ? 100 : 1000;

        String ns = namespace("bench");
        long t0 = System.nanoTime();
        WorkerProcess worker = new WorkerProcess(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(),
                "HYPHA_K8S_NAMESPACE", ns, "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "HYPHA_SERVICE_ID", "bench-worker", "HYPHA_K8S_WORKER_KUBERNETES_TTL_SECONDS_AFTER_FINISHED", "3600")).start();
        double readySeconds = (System.nanoTime() - t0) / 1e9;
        HyphaClient caller = await(HyphaClient.connect(vertx, new ConnectOptions().setServerUrl(hypha.url())
                .setToken(hypha.userToken()).setMethodTimeout(Duration.ofSeconds(120))));
        RemoteService svc = await(caller.getService(caller.workspace() + "/bench-worker"));
        try {
            startLatency(svc, ns, latencyRuns);
            throughput(svc, ns, throughputSessions);
            apiLoad(svc, ns);
            footprint(worker, ns, trackedSessions, readySeconds);
        } finally {
            await(caller.disconnect());
            worker.close();
            kube.namespaces().withName(ns).delete();
        }
    }

    // ------------------------------------------------------------------ start latency

    private void startLatency(RemoteService svc, String ns, int runs) throws Exception {
        report.append("## Start latency: start() until the pod runs\n\n")
                .append("| callers | path | starts | p50 ms | p99 ms |\n|---|---|---|---|---|\n");
        for (int callers : new int[] {1, 50}) {
            int n = callers == 1 ? runs : Math.max(runs, 100);
            List<Double> floor = timed(n, callers, i -> directStart(ns, "floor-" + callers + "-" + i));
            List<Double> worker = timed(n, callers, i -> workerStart(svc));
            row(callers, "fabric8 create + watch (floor)", floor);
            row(callers, "worker start()", worker);
            report.append(String.format(Locale.ROOT, "| %d | worker overhead over the floor | | %.1f | %.1f |%n",
                    callers, pct(worker, 50) - pct(floor, 50), pct(worker, 99) - pct(floor, 99)));
            cleanJobs(ns);
        }
        report.append('\n');
    }

    private void row(int callers, String path, List<Double> ms) {
        report.append(String.format(Locale.ROOT, "| %d | %s | %d | %.1f | %.1f |%n", callers, path, ms.size(), pct(ms, 50), pct(ms, 99)));
    }

    private interface Start {
        void run(int index) throws Exception;
    }

    /** Runs n starts with the given number in flight; the latency of each, in ms. */
    private List<Double> timed(int n, int concurrency, Start start) throws Exception {
        List<Double> out = Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int index = i;
            all.add(CompletableFuture.runAsync(() -> {
                long t = System.nanoTime();
                try {
                    start.run(index);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                out.add((System.nanoTime() - t) / 1e6);
            }, pool));
        }
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(30, TimeUnit.MINUTES);
        pool.shutdown();
        return out;
    }

    private void workerStart(RemoteService svc) {
        await(svc.call("start", Map.of("manifest", Map.of("image", "python:3.11", "command", List.of("true")))));
    }

    /** The floor: what the cluster itself takes, creating the same kind of Job and watching its pod. */
    private void directStart(String ns, String name) throws Exception {
        CountDownLatch running = new CountDownLatch(1);
        try (Watch w = kube.pods().inNamespace(ns).withLabel("job-name", name).watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, Pod pod) {
                String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
                if ("Running".equals(phase) || "Succeeded".equals(phase)) {
                    running.countDown();
                }
            }

            @Override
            public void onClose(WatcherException cause) {
            }
        })) {
            kube.batch().v1().jobs().inNamespace(ns).resource(job(name)).create();
            if (!running.await(120, TimeUnit.SECONDS)) {
                throw new IllegalStateException("pod of " + name + " did not run");
            }
        }
    }

    private static Job job(String name) {
        return new JobBuilder().withNewMetadata().withName(name).endMetadata().withNewSpec().withBackoffLimit(0)
                .withTtlSecondsAfterFinished(3600).withNewTemplate().withNewSpec().withRestartPolicy("Never")
                .addNewContainer().withName("main").withImage("python:3.11").withCommand("true").endContainer()
                .endSpec().endTemplate().endSpec().build();
    }

    // ------------------------------------------------------------------ throughput

    private void throughput(RemoteService svc, String ns, int sessions) throws Exception {
        long t = System.nanoTime();
        timed(sessions, 50, i -> directStart(ns, "tp-" + i));
        double floorSeconds = (System.nanoTime() - t) / 1e9;
        cleanJobs(ns);
        t = System.nanoTime();
        timed(sessions, 50, i -> workerStart(svc));
        double workerSeconds = (System.nanoTime() - t) / 1e9;
        cleanJobs(ns);
        report.append("## Throughput: ").append(sessions).append(" sessions from 50 concurrent callers\n\n")
                .append("| path | seconds | sessions/s |\n|---|---|---|\n")
                .append(String.format(Locale.ROOT, "| fabric8 create + watch (floor) | %.1f | %.1f |%n", floorSeconds, sessions / floorSeconds))
                .append(String.format(Locale.ROOT, "| worker start() | %.1f | %.1f |%n", workerSeconds, sessions / workerSeconds))
                .append(String.format(Locale.ROOT, "%nWorker throughput: %.0f %% of the floor's.%n%n", 100 * floorSeconds / workerSeconds));
    }

    // ------------------------------------------------------------------ API load

    private void apiLoad(RemoteService svc, String ns) throws Exception {
        int n = 20;
        String slowImage = "python:slow";
        Map<String, Double> before = requestCounts();
        timed(n, n, i -> await(svc.call("start", Map.of("manifest", Map.of("image", slowImage)))));
        List<String> sessions = sessionIds(ns);
        for (String s : sessions) {
            await(svc.call("stop", s));
        }
        awaitNoJobs(ns);
        Map<String, Double> worker = delta(before, requestCounts());

        before = requestCounts();
        timed(n, n, i -> pollingStart(ns, "poll-" + i, slowImage));
        for (int i = 0; i < n; i++) {
            kube.batch().v1().jobs().inNamespace(ns).withName("poll-" + i).withPropagationPolicy(
                    io.fabric8.kubernetes.api.model.DeletionPropagation.BACKGROUND).delete();
        }
        awaitNoJobs(ns);
        Map<String, Double> polling = delta(before, requestCounts());

        report.append("## API load: requests per session (start, run, stop)\n\n")
                .append(n).append(" sessions whose pods take 5 s to start (`:slow` image), started together; ")
                .append("counted from the API server's `apiserver_request_total`, all clients included ")
                .append("(controllers, scheduler, kwok), so the difference between the rows is what the caller's side costs.\n\n")
                .append("| verb | worker (watch) | original's way (pod LIST every 2 s) |\n|---|---|---|\n");
        List<String> verbs = new ArrayList<>(new java.util.TreeSet<>(union(worker.keySet(), polling.keySet())));
        double wTotal = 0;
        double pTotal = 0;
        for (String verb : verbs) {
            double w = worker.getOrDefault(verb, 0.0) / n;
            double p = polling.getOrDefault(verb, 0.0) / n;
            wTotal += w;
            pTotal += p;
            report.append(String.format(Locale.ROOT, "| %s | %.1f | %.1f |%n", verb, w, p));
        }
        report.append(String.format(Locale.ROOT, "| **all** | **%.1f** | **%.1f** |%n%n", wTotal, pTotal));
    }

    private static java.util.Set<String> union(java.util.Set<String> a, java.util.Set<String> b) {
        java.util.Set<String> out = new java.util.HashSet<>(a);
        out.addAll(b);
        return out;
    }

    /** The original worker's wait: create the Job, then LIST its pods every 2 s until one runs. */
    private void pollingStart(String ns, String name, String image) throws Exception {
        Job job = job(name);
        job.getSpec().getTemplate().getSpec().getContainers().get(0).setImage(image);
        kube.batch().v1().jobs().inNamespace(ns).resource(job).create();
        for (int i = 0; i < 150; i++) {
            List<Pod> pods = kube.pods().inNamespace(ns).withLabel("job-name", name).list().getItems();
            String phase = pods.isEmpty() || pods.get(0).getStatus() == null ? null : pods.get(0).getStatus().getPhase();
            if ("Running".equals(phase) || "Succeeded".equals(phase)) {
                return;
            }
            Thread.sleep(2000);
        }
        throw new IllegalStateException(name + " did not run");
    }

    private Map<String, Double> requestCounts() throws IOException, InterruptedException {
        String token = Files.readAllLines(KubeCluster.kubeconfigPath()).stream().filter(l -> l.trim().startsWith("token:"))
                .map(l -> l.trim().substring("token:".length()).trim()).findFirst().orElseThrow();
        HttpClient http = HttpClient.newBuilder().sslContext(trustAll()).build();
        String body = http.send(HttpRequest.newBuilder(URI.create(kube.getMasterUrl().toString().replaceAll("/$", "") + "/metrics"))
                .header("Authorization", "Bearer " + token).build(), HttpResponse.BodyHandlers.ofString()).body();
        Map<String, Double> byVerb = new HashMap<>();
        Matcher m = REQUESTS.matcher(body);
        while (m.find()) {
            String labels = m.group(1);
            String verb = label(labels, "verb");
            String resource = label(labels, "resource");
            if (resource.equals("jobs") || resource.equals("pods") || resource.equals("secrets") || resource.equals("events")) {
                byVerb.merge(verb + " " + resource, Double.parseDouble(m.group(2)), Double::sum);
            }
        }
        return byVerb;
    }

    private static String label(String labels, String name) {
        Matcher m = Pattern.compile(name + "=\"([^\"]*)\"").matcher(labels);
        return m.find() ? m.group(1) : "";
    }

    private static Map<String, Double> delta(Map<String, Double> before, Map<String, Double> after) {
        Map<String, Double> out = new HashMap<>();
        after.forEach((k, v) -> {
            double d = v - before.getOrDefault(k, 0.0);
            if (d > 0) {
                out.put(k, d);
            }
        });
        return out;
    }

    private static javax.net.ssl.SSLContext trustAll() {
        try {
            javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
            ctx.init(null, new javax.net.ssl.TrustManager[] {new javax.net.ssl.X509TrustManager() {
                @Override
                public void checkClientTrusted(java.security.cert.X509Certificate[] c, String a) {
                }

                @Override
                public void checkServerTrusted(java.security.cert.X509Certificate[] c, String a) {
                }

                @Override
                public java.security.cert.X509Certificate[] getAcceptedIssuers() {
                    return new java.security.cert.X509Certificate[0];
                }
            }}, null);
            return ctx;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    // ------------------------------------------------------------------ footprint

    private void footprint(WorkerProcess worker, String ns, int tracked, double readySeconds) throws Exception {
        cleanJobs(ns);
        Thread.sleep(5000);
        long pid = worker.pid();
        double[] idle = sample(pid);
        // sessions as the worker sees them: Jobs with its labels, made directly so that the worker only tracks them
        for (int i = 0; i < tracked; i++) {
            Job j = job("tracked-" + i);
            j.getMetadata().setLabels(Map.of(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE, SessionMeta.COMPONENT,
                    SessionMeta.COMPONENT_VALUE, SessionMeta.WORKER, "bench-worker", SessionMeta.JOB_TYPE, "k8s-job",
                    SessionMeta.SESSION_KEY, SessionMeta.sessionKey("bench/" + i)));
            j.getMetadata().setAnnotations(Map.of(SessionMeta.SESSION_ID, "bench/" + i, SessionMeta.WORKSPACE, "bench"));
            j.getSpec().getTemplate().setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
                    .withLabels(j.getMetadata().getLabels()).build());
            kube.batch().v1().jobs().inNamespace(ns).resource(j).create();
        }
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
        while (kube.pods().inNamespace(ns).list().getItems().stream()
                .filter(p -> "Succeeded".equals(p.getStatus().getPhase())).count() < tracked && System.nanoTime() < deadline) {
            Thread.sleep(2000);
        }
        Thread.sleep(10_000);
        double[] busy = sample(pid);
        report.append("## Footprint\n\n| state | worker RSS MiB | worker CPU % (30 s) |\n|---|---|---|\n")
                .append(String.format(Locale.ROOT, "| idle, 0 sessions | %.0f | %.1f |%n", idle[0], idle[1]))
                .append(String.format(Locale.ROOT, "| idle, %d tracked sessions (Jobs and pods) | %.0f | %.1f |%n", tracked, busy[0], busy[1]))
                .append(String.format(Locale.ROOT, "%nFrom process start to `/health/ready`: %.1f s (JVM start, config, informers, Hypha login, registration).%n%n", readySeconds));
        cleanJobs(ns);
    }

    /** RSS in MiB, and CPU use over 30 s in percent of one core. */
    private static double[] sample(long pid) throws Exception {
        long cpu0 = cpuTicks(pid);
        Thread.sleep(30_000);
        long cpu1 = cpuTicks(pid);
        double rss = 0;
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                rss = Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
            }
        }
        return new double[] {rss, (cpu1 - cpu0) / 100.0 / 30.0 * 100};
    }

    private static long cpuTicks(long pid) throws IOException {
        String[] f = Files.readString(Path.of("/proc/" + pid + "/stat")).replaceAll("^.*\\) ", "").split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    // ------------------------------------------------------------------ helpers

    private String namespace(String prefix) {
        String ns = prefix + "-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
        return ns;
    }

    private List<String> sessionIds(String ns) {
        Map<String, String> ids = new ConcurrentHashMap<>();
        for (Job j : kube.batch().v1().jobs().inNamespace(ns).list().getItems()) {
            String id = j.getMetadata().getAnnotations() == null ? null : j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID);
            if (id != null) {
                ids.put(id, id);
            }
        }
        return new ArrayList<>(ids.keySet());
    }

    private void cleanJobs(String ns) throws InterruptedException {
        kube.batch().v1().jobs().inNamespace(ns).withPropagationPolicy(io.fabric8.kubernetes.api.model.DeletionPropagation.BACKGROUND).delete();
        awaitNoJobs(ns);
    }

    private void awaitNoJobs(String ns) throws InterruptedException {
        for (int i = 0; i < 300 && (!kube.batch().v1().jobs().inNamespace(ns).list().getItems().isEmpty()
                || !kube.pods().inNamespace(ns).list().getItems().isEmpty()); i++) {
            Thread.sleep(500);
        }
    }

    private static double pct(List<Double> values, int p) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(sorted.size() * p / 100.0) - 1));
    }

    private static <T> T await(io.vertx.core.Future<T> f) {
        try {
            return f.toCompletionStage().toCompletableFuture().get(5, TimeUnit.MINUTES);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
