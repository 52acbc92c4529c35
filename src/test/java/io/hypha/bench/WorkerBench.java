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
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
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

    /** The worker's service id; BENCH_SERVICE_ID lets two benches run side by side in one workspace. */
    private static final String SERVICE_ID = System.getenv().getOrDefault("BENCH_SERVICE_ID", "bench-worker");

    private final KubernetesClient kube = KubeCluster.adminClient();
    private final HyphaTestServer hypha = HyphaTestServer.shared();
    private final Vertx vertx = Vertx.vertx();
    private final StringBuilder report = new StringBuilder();

    /** Phases --only can pick. */
    private static final List<String> PHASES = List.of("latency", "throughput", "api", "logs", "cpu", "footprint");
    private static final Path JFR = Path.of("target/bench-worker.jfr");

    private final Map<String, Stages> stages = new ConcurrentHashMap<>();
    private final Map<String, String> jobBySession = new ConcurrentHashMap<>();

    public static void main(String[] args) throws Exception {
        boolean quick = false;
        boolean profile = false;
        String only = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--profile" -> profile = true;
                case "--only" -> only = args[++i];
                default -> throw new IllegalArgumentException("usage: [--quick] [--only " + String.join("|", PHASES) + "] [--profile]");
            }
        }
        if (only != null && !PHASES.contains(only)) {
            throw new IllegalArgumentException("--only takes one of " + PHASES);
        }
        WorkerBench bench = new WorkerBench();
        try {
            bench.run(quick, only, profile);
        } catch (Exception | Error e) {
            // exit rather than leave the clients' threads holding the process (and the caller's lock),
            // with what was measured before the failure
            e.printStackTrace();
            System.out.println(bench.report);
            System.exit(1);
        } finally {
            bench.vertx.close();
        }
        System.out.println(bench.report);
        System.exit(0);
    }

    private void run(boolean quick, String only, boolean profile) throws Exception {
        int latencyRuns = quick ? 10 : 60;
        int throughputSessions = quick ? 60 : 500;

        String ns = namespace("bench");
        Map<String, String> env = new HashMap<>(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(),
                "HYPHA_K8S_NAMESPACE", ns, "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "HYPHA_SERVICE_ID", SERVICE_ID, "HYPHA_K8S_WORKER_KUBERNETES_TTL_SECONDS_AFTER_FINISHED", "3600"));
        // the bench measures launching, not policy: its 50 callers share one workspace
        env.put("HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_WORKSPACE", "0");
        env.put("HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_TOTAL", "0");
        env.put("HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_USER", "0");
        // get_logs is measured for its latency and requests, not its per-caller rate limit
        env.put("HYPHA_K8S_WORKER_LOGS_RATE_PER_SECOND", "1000000");
        env.put("HYPHA_K8S_WORKER_LOGS_BURST", "1000000");
        // a lever under test: settings given to the bench (e.g. HYPHA_K8S_WORKER_KUBERNETES_WORKER_POOL_SIZE=2)
        System.getenv().forEach((k, v) -> {
            if (k.startsWith("HYPHA_K8S_WORKER_")) {
                env.put(k, v);
            }
        });
        Map<String, String> image = imageJvmEnv();
        // a JVM lever under test (BENCH_JVM_EXTRA="-XX:TieredStopAtLevel=1"), after the image's options
        String extra = System.getenv().getOrDefault("BENCH_JVM_EXTRA", "").strip();
        if (!extra.isEmpty()) {
            image.put("JAVA_TOOL_OPTIONS", image.get("JAVA_TOOL_OPTIONS") + " " + extra);
        }
        env.putAll(image);
        if (profile) {
            Files.deleteIfExists(JFR);
            env.put("JAVA_TOOL_OPTIONS", env.get("JAVA_TOOL_OPTIONS")
                    + " -XX:StartFlightRecording=settings=profile,dumponexit=true,filename=" + JFR.toAbsolutePath());
        }
        report.append("Worker JVM: the image's `JAVA_TOOL_OPTIONS=").append(image.get("JAVA_TOOL_OPTIONS"))
                .append(System.getenv("BENCH_CDS_ARCHIVE") == null ? "` (from Maven's classes, without the image's class-data archive)"
                        : "` (from the fat jar, with a class-data archive made as the image makes it)")
                .append(", `MALLOC_ARENA_MAX=").append(image.get("MALLOC_ARENA_MAX")).append('`')
                .append(profile ? ", with a JFR recording (`settings=profile`)" : "").append(".\n\n");
        SharedIndexInformer<Job> jobWatch = kube.batch().v1().jobs().inNamespace(ns).inform(stageHandler(this::jobSeen), 0);
        SharedIndexInformer<Pod> podWatch = kube.pods().inNamespace(ns).inform(stageHandler(this::podSeen), 0);
        long t0 = System.nanoTime();
        WorkerProcess worker = new WorkerProcess(env).start();
        double readySeconds = (System.nanoTime() - t0) / 1e9;
        HyphaClient caller = await(HyphaClient.connect(vertx, new ConnectOptions().setServerUrl(hypha.url())
                .setToken(hypha.userToken()).setMethodTimeout(Duration.ofSeconds(120))));
        RemoteService svc = await(caller.getService(caller.workspace() + "/" + SERVICE_ID));
        try {
            if (only == null || only.equals("latency")) {
                startLatency(svc, ns, latencyRuns);
            }
            if (only == null || only.equals("throughput")) {
                throughput(svc, ns, throughputSessions);
            }
            if (only == null || only.equals("api")) {
                apiLoad(svc, ns);
            }
            if (only == null || only.equals("logs")) {
                logs(svc, ns, quick, worker.pid());
            }
            if (only == null || only.equals("cpu")) {
                cpu(svc, ns, quick, worker.pid());
            }
            if (only == null || only.equals("footprint")) {
                jobWatch.close();
                podWatch.close();
                footprint(worker, ns, quick ? new int[] {200} : new int[] {200, 1000}, readySeconds);
            }
        } finally {
            jobWatch.close();
            podWatch.close();
            await(caller.disconnect());
            worker.close();
            try {
                kube.namespaces().withName(ns).delete();
            } catch (RuntimeException e) {
                // the figures still count; the namespace is only litter
                System.err.println("could not delete namespace " + ns + ": " + e.getMessage());
            }
        }
        if (profile) {
            profileReport();
        }
    }

    /** The image's JVM environment, read from the Dockerfile so that the bench runs the worker as the image does. */
    static Map<String, String> imageJvmEnv() throws IOException {
        String dockerfile = Files.readString(HyphaTestServer.projectDir().resolve("Dockerfile")).replace("\\\n", " ");
        Map<String, String> out = new HashMap<>();
        for (String name : List.of("JAVA_TOOL_OPTIONS", "MALLOC_ARENA_MAX")) {
            Matcher m = Pattern.compile(name + "=(\"[^\"]*\"|\\S+)").matcher(dockerfile);
            if (!m.find()) {
                throw new IllegalStateException("the Dockerfile sets no " + name);
            }
            // the image's class-data archive matches its jar: kept (pointing at the one made for the bench's
            // jar) with --cds, dropped when the worker runs from Maven's classes
            String archive = System.getenv("BENCH_CDS_ARCHIVE");
            out.put(name, m.group(1).replace("\"", "").replaceAll("-XX:SharedArchiveFile=\\S+(\\s*)",
                    archive == null ? "" : "-XX:SharedArchiveFile=" + archive + "$1").strip());
        }
        return out;
    }

    // ------------------------------------------------------------------ stages

    /** When the bench's own watches first saw each step of one Job, in nanos (0: not seen). */
    private static final class Stages {
        volatile long jobCreated;
        volatile long podCreated;
        volatile long podScheduled;
        volatile long podRunning;
    }

    private <T> io.fabric8.kubernetes.client.informers.ResourceEventHandler<T> stageHandler(java.util.function.Consumer<T> seen) {
        return new io.fabric8.kubernetes.client.informers.ResourceEventHandler<>() {
            @Override
            public void onAdd(T obj) {
                seen.accept(obj);
            }

            @Override
            public void onUpdate(T oldObj, T newObj) {
                seen.accept(newObj);
            }

            @Override
            public void onDelete(T obj, boolean deletedFinalStateUnknown) {
            }
        };
    }

    private void jobSeen(Job job) {
        long now = System.nanoTime();
        Stages s = stages.computeIfAbsent(job.getMetadata().getName(), k -> new Stages());
        if (s.jobCreated == 0) {
            s.jobCreated = now;
        }
        Map<String, String> a = job.getMetadata().getAnnotations();
        if (a != null && a.get(SessionMeta.SESSION_ID) != null) {
            jobBySession.put(a.get(SessionMeta.SESSION_ID), job.getMetadata().getName());
        }
    }

    private void podSeen(Pod pod) {
        long now = System.nanoTime();
        String jobName = pod.getMetadata().getLabels() == null ? null : pod.getMetadata().getLabels().get("job-name");
        if (jobName == null) {
            return;
        }
        Stages s = stages.computeIfAbsent(jobName, k -> new Stages());
        if (s.podCreated == 0) {
            s.podCreated = now;
        }
        if (s.podScheduled == 0 && pod.getSpec().getNodeName() != null) {
            s.podScheduled = now;
        }
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        if (s.podRunning == 0 && ("Running".equals(phase) || "Succeeded".equals(phase))) {
            s.podRunning = now;
        }
    }

    /** One start as its caller saw it: when it called, when it returned, which Job it was. */
    private record Call(long calledAt, long returnedAt, String jobName) {
    }

    // ------------------------------------------------------------------ start latency

    private void startLatency(RemoteService svc, String ns, int runs) throws Exception {
        report.append("## Start latency: start() until the pod runs\n\n")
                .append("| callers | path | starts | mean ms | p10 ms | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|---|---|---|---|\n");
        StringBuilder breakdown = new StringBuilder("### Where the time goes (means, ms)\n\n")
                .append("Seen by the bench's own watches on the namespace's Jobs and pods, the same events the worker's informers get.\n\n")
                .append("| callers | path | call → Job created | → pod created | → pod scheduled | → pod Running (watch) | → caller returns | total |\n")
                .append("|---|---|---|---|---|---|---|---|\n");
        for (int callers : new int[] {1, 50}) {
            int n = callers == 1 ? runs : Math.max(runs, 100);
            awaitQuiet(ns);
            List<Call> floor = calls(n, callers, i -> {
                String name = "floor-" + callers + "-" + i;
                directStart(ns, name);
                return name;
            });
            awaitQuiet(ns);
            List<Call> worker = calls(n, callers, i -> workerStart(svc));
            List<Double> f = latencies(floor);
            List<Double> w = latencies(worker);
            row(callers, "fabric8 create + watch (floor)", f);
            row(callers, "worker start()", w);
            report.append(String.format(Locale.ROOT, "| %d | worker overhead over the floor | | %.1f | %.1f | %.1f | %.1f | %.1f |%n",
                    callers, mean(w) - mean(f), pct(w, 10) - pct(f, 10), pct(w, 50) - pct(f, 50), pct(w, 90) - pct(f, 90), pct(w, 99) - pct(f, 99)));
            breakdown.append(stageRow(callers, "floor", floor)).append(stageRow(callers, "worker", worker));
            if (callers > 1) {
                littlesLaw.append(String.format(Locale.ROOT,
                        "- %d callers: floor %.1f starts/s over the phase, so by Little's law a mean latency of %d / %.1f = %.2f s (measured %.2f s); worker %.1f starts/s, %.2f s expected (measured %.2f s).%n",
                        callers, rate(floor), callers, rate(floor), callers / rate(floor), mean(f) / 1000, rate(worker), callers / rate(worker), mean(w) / 1000));
            }
            cleanJobs(ns);
        }
        report.append('\n').append(breakdown).append('\n');
        if (!littlesLaw.isEmpty()) {
            report.append(littlesLaw).append('\n');
        }
    }

    private final StringBuilder littlesLaw = new StringBuilder();

    /** Completed starts per second over the span from the first call to the last return. */
    private static double rate(List<Call> calls) {
        long first = calls.stream().mapToLong(Call::calledAt).min().orElse(0);
        long last = calls.stream().mapToLong(Call::returnedAt).max().orElse(1);
        return calls.size() / ((last - first) / 1e9);
    }

    private static List<Double> latencies(List<Call> calls) {
        return calls.stream().map(c -> (c.returnedAt() - c.calledAt()) / 1e6).toList();
    }

    private String stageRow(int callers, String path, List<Call> calls) {
        double[] sum = new double[5];
        int n = 0;
        for (Call c : calls) {
            Stages s = c.jobName() == null ? null : stages.get(c.jobName());
            if (s == null || s.jobCreated == 0 || s.podCreated == 0 || s.podScheduled == 0 || s.podRunning == 0) {
                continue;
            }
            n++;
            sum[0] += (s.jobCreated - c.calledAt()) / 1e6;
            sum[1] += (s.podCreated - s.jobCreated) / 1e6;
            sum[2] += (s.podScheduled - s.podCreated) / 1e6;
            sum[3] += (s.podRunning - s.podScheduled) / 1e6;
            sum[4] += (c.returnedAt() - s.podRunning) / 1e6;
        }
        if (n == 0) {
            return String.format(Locale.ROOT, "| %d | %s | (no stages seen) | | | | | |%n", callers, path);
        }
        double total = 0;
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %d | %s (%d) ", callers, path, n));
        for (double v : sum) {
            row.append(String.format(Locale.ROOT, "| %.1f ", v / n));
            total += v / n;
        }
        return row.append(String.format(Locale.ROOT, "| %.1f |%n", total)).toString();
    }

    private void row(int callers, String path, List<Double> ms) {
        report.append(String.format(Locale.ROOT, "| %d | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |%n", callers, path, ms.size(),
                mean(ms), pct(ms, 10), pct(ms, 50), pct(ms, 90), pct(ms, 99)));
    }

    private static double mean(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    private interface NamedStart {
        String run(int index) throws Exception;
    }

    /** Runs n starts with the given number in flight; each one's call and return time and its Job. */
    private List<Call> calls(int n, int concurrency, NamedStart start) throws Exception {
        List<Call> out = Collections.synchronizedList(new ArrayList<>());
        timed(n, concurrency, i -> {
            long t = System.nanoTime();
            String ref = start.run(i);
            long done = System.nanoTime();
            out.add(new Call(t, done, ref == null ? null : jobBySession.getOrDefault(ref, ref)));
        });
        return new ArrayList<>(out);
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

    /** A worker start; its session id. */
    private String workerStart(RemoteService svc) {
        Object r = await(svc.call("start", Map.of("manifest", Map.of("image", "python:3.11", "command", List.of("true")))));
        if (r instanceof io.vertx.core.json.JsonObject j) {
            return j.getString("session_id");
        }
        if (r instanceof Map<?, ?> m && m.get("session_id") != null) {
            return m.get("session_id").toString();
        }
        return r instanceof String id ? id : null;
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
        awaitQuiet(ns);
        long t = System.nanoTime();
        timed(sessions, 50, i -> directStart(ns, "tp-" + i));
        double floorSeconds = (System.nanoTime() - t) / 1e9;
        cleanJobs(ns);
        awaitQuiet(ns);
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
        awaitQuiet(ns);
        Map<String, Double> before = requestCounts();
        timed(n, n, i -> await(svc.call("start", Map.of("manifest", Map.of("image", slowImage)))));
        List<String> sessions = sessionIds(ns);
        for (String s : sessions) {
            await(svc.call("stop", s));
        }
        awaitQuiet(ns);
        Map<String, Double> worker = delta(before, requestCounts());

        before = requestCounts();
        timed(n, n, i -> pollingStart(ns, "poll-" + i, slowImage));
        for (int i = 0; i < n; i++) {
            kube.batch().v1().jobs().inNamespace(ns).withName("poll-" + i).withPropagationPolicy(
                    io.fabric8.kubernetes.api.model.DeletionPropagation.BACKGROUND).delete();
        }
        awaitQuiet(ns);
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
        return requestCounts(false);
    }

    /**
     * Requests by verb and resource since the API server started. With {@code bySubresource}, also
     * config maps and service accounts (what a worker could read), and subresources apart ("GET pods/log").
     */
    private Map<String, Double> requestCounts(boolean bySubresource) throws IOException, InterruptedException {
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
            String sub = label(labels, "subresource");
            if (resource.equals("jobs") || resource.equals("pods") || resource.equals("secrets") || resource.equals("events")
                    || bySubresource && (resource.equals("configmaps") || resource.equals("serviceaccounts"))) {
                byVerb.merge(verb + " " + resource + (bySubresource && !sub.isEmpty() ? "/" + sub : ""), Double.parseDouble(m.group(2)), Double::sum);
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

    // ------------------------------------------------------------------ get_logs

    /**
     * get_logs of running sessions next to the same log read made directly with fabric8 (one GET of
     * the pod's log with the same tailLines and limitBytes): the API requests each call makes, from
     * the API server's counters, and the latency at 1 and 20 callers.
     */
    private void logs(RemoteService svc, String ns, boolean quick, long pid) throws Exception {
        int sessionCount = 20;
        awaitQuiet(ns);
        List<String> sessions = Collections.synchronizedList(new ArrayList<>());
        timed(sessionCount, sessionCount, i -> sessions.add(sessionOf(await(svc.call("start",
                Map.of("manifest", Map.of("image", "python:long")))))));
        List<String> pods = kube.pods().inNamespace(ns).list().getItems().stream().map(p -> p.getMetadata().getName()).toList();
        // kwok serves a pod's log once it has seen the pod's Logs; wait until get_logs returns one
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (logText(await(svc.call("get_logs", sessions.get(0)))).isEmpty() && System.nanoTime() < until) {
            Thread.sleep(500);
        }
        String path = "/api/v1/namespaces/" + ns + "/pods/%s/log?container=main&tailLines=1000&limitBytes=262144";
        Start direct = i -> kube.raw(path.formatted(pods.get(i % pods.size())));
        Start viaWorker = i -> await(svc.call("get_logs", sessions.get(i % sessions.size())));
        int warm = quick ? 200 : 1000;
        timed(warm, 4, direct);
        timed(warm, 4, viaWorker);

        // requests per call: the API server's counters around calls made one at a time
        int counted = 50;
        Map<String, Start> calls = new java.util.LinkedHashMap<>();
        calls.put("fabric8 log read (baseline)", direct);
        calls.put("worker get_logs", viaWorker);
        calls.put("worker list_sessions", i -> await(svc.call("list_sessions")));
        calls.put("worker get_session_info", i -> await(svc.call("get_session_info", sessions.get(i % sessions.size()))));
        StringBuilder requests = new StringBuilder("| call | calls | API requests per call | by verb and resource |\n|---|---|---|---|\n");
        Map<String, Double> workerCpuMs = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, Start> c : calls.entrySet()) {
            awaitCountersStable();
            Map<String, Double> before = requestCounts(true);
            long cpu0 = cpuTicks(pid);
            timed(counted, 1, c.getValue());
            long cpu1 = cpuTicks(pid);
            Map<String, Double> d = delta(before, requestCounts(true));
            double all = d.values().stream().mapToDouble(Double::doubleValue).sum();
            requests.append(String.format(Locale.ROOT, "| %s | %d | %.2f | %s |%n", c.getKey(), counted, all / counted,
                    d.isEmpty() ? "none" : new java.util.TreeMap<>(d).toString().replaceAll("[{}]", "")));
            workerCpuMs.put(c.getKey(), (cpu1 - cpu0) * 10.0 / counted);
        }

        report.append("## get_logs: ").append(sessionCount).append(" running sessions, one pod each\n\n")
                .append("API requests counted from `apiserver_request_total` (every resource) around ").append(counted)
                .append(" calls made one after another, after the counters stood still for 3 s; the baseline row shows ")
                .append("what one log read costs.\n\n").append(requests).append('\n')
                .append("| callers | path | calls | mean ms | p10 ms | p50 ms | p90 ms | p99 ms | p50 vs baseline |\n|---|---|---|---|---|---|---|---|---|\n");
        for (int callers : new int[] {1, 20}) {
            int n = (quick ? 200 : 1000) * (callers == 1 ? 1 : 2);
            List<Double> base = timed(n, callers, direct);
            List<Double> worker = timed(n, callers, viaWorker);
            logRow(callers, "fabric8 log read (baseline)", base, pct(base, 50));
            logRow(callers, "worker get_logs", worker, pct(base, 50));
        }
        report.append(String.format(Locale.ROOT, "%nWorker CPU per call (ms, from /proc, 10 ms ticks over %d calls): ", counted));
        workerCpuMs.forEach((k, v) -> report.append(String.format(Locale.ROOT, "%s %.1f; ", k, v)));
        report.append("\n\n");
        for (String s : sessions) {
            await(svc.call("stop", s));
        }
        cleanJobs(ns);
    }

    private void logRow(int callers, String path, List<Double> ms, double baseP50) {
        report.append(String.format(Locale.ROOT, "| %d | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f× |%n", callers, path, ms.size(),
                mean(ms), pct(ms, 10), pct(ms, 50), pct(ms, 90), pct(ms, 99), pct(ms, 50) / baseP50));
    }

    private static String logText(Object logs) {
        return String.valueOf(logs instanceof io.vertx.core.json.JsonObject j ? j.getMap() : logs)
                .replaceAll("\\b(logs|items|stdout|info|error|total|offset|limit)\\b|[\\[\\]{}=,:0-9\\s\"]", "");
    }

    private static String sessionOf(Object r) {
        if (r instanceof io.vertx.core.json.JsonObject j) {
            return j.getString("session_id");
        }
        if (r instanceof Map<?, ?> m && m.get("session_id") != null) {
            return m.get("session_id").toString();
        }
        return (String) r;
    }

    // ------------------------------------------------------------------ CPU per session lifecycle

    /**
     * The worker's CPU time (from /proc, all its threads) per session lifecycle, start() until its
     * pod runs then stop() until the Job is gone, one caller, in rounds: the first rounds pay for the
     * JIT's warm-up, the last shows the steady cost. The JIT's own share is its compiler threads' CPU.
     */
    private void cpu(RemoteService svc, String ns, boolean quick, long pid) throws Exception {
        int perRound = 50;
        int rounds = quick ? 3 : 5;
        awaitQuiet(ns);
        double idlePerSecond = idleTicksPerSecond(pid);
        report.append("## CPU per session lifecycle\n\n")
                .append(perRound).append(" lifecycles per round from one caller: start() (`python:long`, until its pod runs), then stop(); ")
                .append("the round ends when the control plane is quiet again. CPU from `/proc/<pid>/task/*/stat` (10 ms ticks), ")
                .append(String.format(Locale.ROOT, "idle CPU measured before (%.1f ms/s) subtracted.%n%n", idlePerSecond * 10))
                .append("| round | seconds | worker CPU s | less idle | ms per lifecycle | of which JIT compiler threads ms | VM thread ms (serial GC, safepoints) |\n")
                .append("|---|---|---|---|---|---|---|\n");
        Map<String, Long> atStart = threadTicks(pid);
        Map<String, Double> lastRound = new HashMap<>();
        for (int r = 1; r <= rounds; r++) {
            Map<String, Long> t0 = threadTicks(pid);
            long w0 = System.nanoTime();
            for (int i = 0; i < perRound; i++) {
                String s = sessionOf(await(svc.call("start", Map.of("manifest", Map.of("image", "python:long")))));
                await(svc.call("stop", s));
            }
            awaitQuiet(ns);
            double seconds = (System.nanoTime() - w0) / 1e9;
            Map<String, Long> t1 = threadTicks(pid);
            long all = sumTicks(t1) - sumTicks(t0);
            long jit = groupTicks(t1, "Compiler") - groupTicks(t0, "Compiler");
            long gc = groupTicks(t1, "VM Thread") - groupTicks(t0, "VM Thread");
            double lessIdle = all - idlePerSecond * seconds;
            report.append(String.format(Locale.ROOT, "| %d | %.0f | %.2f | %.2f | %.1f | %.1f | %.1f |%n", r, seconds, all / 100.0,
                    lessIdle / 100.0, lessIdle * 10 / perRound, jit * 10.0 / perRound, gc * 10.0 / perRound));
            lastRound.clear();
            t1.forEach((k, v) -> lastRound.merge(k.substring(k.indexOf(' ') + 1).replaceAll("[0-9]+", "#"),
                    (v - t0.getOrDefault(k, 0L)) * 10.0 / perRound, Double::sum));
        }
        report.append("\nThe last round's CPU per lifecycle by thread (ms): ");
        lastRound.entrySet().stream().filter(e -> e.getValue() > 0).sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                .forEach(e -> report.append(String.format(Locale.ROOT, "`%s` %.1f; ", e.getKey(), e.getValue())));
        report.append('\n');
        report.append(String.format(Locale.ROOT, "%nJIT compiler threads since the worker started: %.2f s of CPU (%.2f s before this phase).%n%n",
                groupTicks(threadTicks(pid), "Compiler") / 100.0, groupTicks(atStart, "Compiler") / 100.0));
    }

    private static double idleTicksPerSecond(long pid) throws Exception {
        long c0 = cpuTicks(pid);
        Thread.sleep(10_000);
        return (cpuTicks(pid) - c0) / 10.0;
    }

    /** Each live thread's CPU ticks (user + system), keyed by tid and name. */
    private static Map<String, Long> threadTicks(long pid) throws IOException {
        Map<String, Long> out = new HashMap<>();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                try {
                    String stat = Files.readString(t.resolve("stat"));
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    out.put(t.getFileName() + " " + name, Long.parseLong(f[11]) + Long.parseLong(f[12]));
                } catch (IOException | RuntimeException e) {
                    // the thread ended between the listing and the read
                }
            }
        }
        return out;
    }

    private static long sumTicks(Map<String, Long> ticks) {
        return ticks.values().stream().mapToLong(Long::longValue).sum();
    }

    private static long groupTicks(Map<String, Long> ticks, String nameContains) {
        return ticks.entrySet().stream().filter(e -> e.getKey().contains(nameContains)).mapToLong(Map.Entry::getValue).sum();
    }

    // ------------------------------------------------------------------ footprint

    private void footprint(WorkerProcess worker, String ns, int[] tracked, double readySeconds) throws Exception {
        cleanJobs(ns);
        awaitQuiet(ns);
        long pid = worker.pid();
        report.append("## Footprint\n\n| state | worker RSS MiB | threads | classes loaded | worker CPU % (30 s) |\n|---|---|---|---|---|\n");
        footprintRow(pid, "idle, 0 sessions");
        String threadsIdle = threadNames(pid);
        String nmtIdle = nativeMemory(pid);
        int made = 0;
        for (int count : tracked) {
            // live sessions as the worker sees them: Jobs with its labels whose pods keep running, made
            // directly so that the worker only tracks them
            for (; made < count; made++) {
                Job j = job("tracked-" + made);
                j.getSpec().getTemplate().getSpec().getContainers().get(0).setImage("python:long");
                j.getMetadata().setLabels(Map.of(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE, SessionMeta.COMPONENT,
                        SessionMeta.COMPONENT_VALUE, SessionMeta.WORKER, SERVICE_ID, SessionMeta.JOB_TYPE, "k8s-job",
                        SessionMeta.SESSION_KEY, SessionMeta.sessionKey("bench/" + made)));
                j.getMetadata().setAnnotations(Map.of(SessionMeta.SESSION_ID, "bench/" + made, SessionMeta.WORKSPACE, "bench"));
                j.getSpec().getTemplate().setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
                        .withLabels(j.getMetadata().getLabels()).build());
                kube.batch().v1().jobs().inNamespace(ns).resource(j).create();
            }
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
            while (kube.pods().inNamespace(ns).list().getItems().stream()
                    .filter(p -> "Running".equals(p.getStatus().getPhase())).count() < count && System.nanoTime() < deadline) {
                Thread.sleep(2000);
            }
            awaitCountersStable();
            footprintRow(pid, count + " live sessions (Jobs with running pods)");
        }
        report.append(String.format(Locale.ROOT, "%nFrom process start to `/health/ready`: %.1f s (JVM start, config, informers, Hypha login, registration).%n%n", readySeconds))
                .append("Threads when idle, by name: ").append(threadsIdle).append("\n\n");
        if (!nmtIdle.isEmpty()) {
            report.append("Native memory tracking when idle (committed KiB):\n\n```\n").append(nmtIdle).append("```\n\n");
        }
        cleanJobs(ns);
    }

    private void footprintRow(long pid, String state) throws Exception {
        double[] s = sample(pid);
        report.append(String.format(Locale.ROOT, "| %s | %.0f | %d | %s | %.1f |%n", state, s[0], threadTicks(pid).size(), classesLoaded(pid), s[1]));
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

    /** The worker's threads grouped by name with the digits taken out: "vert.x-eventloop-thread-# ×4, ...". */
    private static String threadNames(long pid) throws IOException {
        Map<String, Integer> byName = new java.util.TreeMap<>();
        for (String key : threadTicks(pid).keySet()) {
            byName.merge(key.substring(key.indexOf(' ') + 1).replaceAll("[0-9]+", "#"), 1, Integer::sum);
        }
        StringBuilder out = new StringBuilder();
        byName.forEach((k, v) -> out.append(out.isEmpty() ? "" : ", ").append('`').append(k).append('`').append(v > 1 ? " ×" + v : ""));
        return out.toString();
    }

    private static String jcmd(long pid, String... command) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(), String.valueOf(pid)));
        cmd.addAll(List.of(command));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor(30, TimeUnit.SECONDS);
        return out;
    }

    /** Classes the worker has loaded and not unloaded, from its class-data archive or not; "?" when it cannot be read. */
    private static String classesLoaded(long pid) throws IOException, InterruptedException {
        String counters = jcmd(pid, "PerfCounter.print");
        long total = 0;
        boolean found = false;
        for (String name : List.of("loadedClasses", "sharedLoadedClasses", "unloadedClasses", "sharedUnloadedClasses")) {
            Matcher m = Pattern.compile("java\\.cls\\." + name + "=(\\d+)").matcher(counters);
            if (m.find()) {
                found = true;
                total += (name.contains("nloaded") ? -1 : 1) * Long.parseLong(m.group(1));
            }
        }
        return found ? String.valueOf(total) : "?";
    }

    /** The JVM's native memory summary when the worker runs with -XX:NativeMemoryTracking, else empty. */
    private static String nativeMemory(long pid) throws IOException, InterruptedException {
        String out = jcmd(pid, "VM.native_memory", "summary");
        if (!out.contains("committed")) {
            return "";
        }
        StringBuilder sb = new StringBuilder();
        for (String line : out.split("\n")) {
            Matcher l = Pattern.compile("^\\s*-?\\s*([A-Za-z][A-Za-z ]*?)\\s*\\(reserved=\\d+KB, committed=(\\d+)KB").matcher(line);
            Matcher t = Pattern.compile("^Total: reserved=\\d+KB, committed=(\\d+)KB").matcher(line);
            if (t.find()) {
                sb.append("Total ").append(t.group(1)).append('\n');
            } else if (l.find()) {
                sb.append(l.group(1).strip()).append(' ').append(l.group(2)).append('\n');
            }
        }
        return sb.toString();
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

    /**
     * Waits until the previous phase is over for the control plane: no Job or pod left in the
     * namespace and the API server's request counters unchanged for 3 s (at most 30 s), so that
     * one phase does not load the next.
     */
    private void awaitQuiet(String ns) throws Exception {
        awaitNoJobs(ns);
        awaitCountersStable();
    }

    /** Until the API server's request counters stand still for 3 s (at most 30 s). */
    private void awaitCountersStable() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        double last = -1;
        int stable = 0;
        while (stable < 3 && System.nanoTime() < deadline) {
            double total = requestCounts().values().stream().mapToDouble(Double::doubleValue).sum();
            stable = total == last ? stable + 1 : 0;
            last = total;
            Thread.sleep(1000);
        }
    }

    private void awaitNoJobs(String ns) throws InterruptedException {
        for (int i = 0; i < 300 && (!kube.batch().v1().jobs().inNamespace(ns).list().getItems().isEmpty()
                || !kube.pods().inNamespace(ns).list().getItems().isEmpty()); i++) {
            Thread.sleep(500);
        }
    }

    /** Where the worker's CPU samples fall: its own code, the libraries, the JDK. */
    private void profileReport() throws IOException {
        Map<String, Integer> topByArea = new HashMap<>();
        Map<String, Integer> topMethods = new HashMap<>();
        int total = 0;
        int inOwnStack = 0;
        for (jdk.jfr.consumer.RecordedEvent e : jdk.jfr.consumer.RecordingFile.readAllEvents(JFR)) {
            if (!e.getEventType().getName().equals("jdk.ExecutionSample") || e.getStackTrace() == null
                    || e.getStackTrace().getFrames().isEmpty()) {
                continue;
            }
            total++;
            List<jdk.jfr.consumer.RecordedFrame> frames = e.getStackTrace().getFrames();
            if (frames.stream().anyMatch(f -> f.getMethod().getType().getName().startsWith("io.hypha."))) {
                inOwnStack++;
            }
            jdk.jfr.consumer.RecordedFrame top = frames.get(0);
            String cls = top.getMethod().getType().getName();
            topByArea.merge(area(cls), 1, Integer::sum);
            topMethods.merge(cls + "." + top.getMethod().getName(), 1, Integer::sum);
        }
        int all = Math.max(1, total);
        report.append("## Worker profile (JFR, the phases of this run)\n\n").append(total).append(" CPU samples; ")
                .append(String.format(Locale.ROOT, "%.1f %%", 100.0 * inOwnStack / all))
                .append(" have the worker's own code (`io.hypha.*`) anywhere on the stack.\n\n")
                .append("| top frame in | samples | share |\n|---|---|---|\n");
        topByArea.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).forEach(en ->
                report.append(String.format(Locale.ROOT, "| %s | %d | %.1f %% |%n", en.getKey(), en.getValue(), 100.0 * en.getValue() / all)));
        report.append("\n| hottest methods (top frame) | samples |\n|---|---|\n");
        topMethods.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).limit(12).forEach(en ->
                report.append(String.format(Locale.ROOT, "| `%s` | %d |%n", en.getKey(), en.getValue())));
        report.append("\nRecording: `").append(JFR).append("` (`jfr print --events jdk.ExecutionSample` or JDK Mission Control).\n\n");
    }

    private static String area(String cls) {
        for (String prefix : List.of("io.hypha.rpc.", "io.hypha.k8sworker.", "io.fabric8.", "io.vertx.", "io.netty.",
                "tools.jackson.", "com.fasterxml.", "org.msgpack.", "okhttp3.", "sun.security.", "sun.nio.", "java.", "jdk.", "sun.")) {
            if (cls.startsWith(prefix)) {
                return prefix + "*";
            }
        }
        return "other";
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
