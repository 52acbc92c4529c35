package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Sessions at the size limit: policy.maxManifestBytes refuses a manifest one byte over it through the
 * real Python client, and a worker with the image's JVM options, killed and restarted among the most
 * sessions the policy allows (policy.maxSessionsTotal), each carrying a manifest at that limit, comes
 * back ready, lists every one, serves a new caller, and after a GC uses well under half its heap.
 * Both limits are the shipped defaults.
 */
@Tag("hypha")
@Tag("k8s")
class SessionSizeTest {

    /** The defaults of policy.maxManifestBytes and policy.maxSessionsTotal. */
    static final int MAX_MANIFEST_BYTES = 65536;
    static final int MAX_SESSIONS = 200;

    /**
     * {@code at_size(n)}: a k8s-job manifest of exactly n bytes as the worker counts them (UTF-8
     * bytes of every key and string, 8 for any other value), its bulk in env values the policy
     * allows one by one (at most 32 768 characters each).
     */
    static final String AT_SIZE = """
            def size(v):
                if isinstance(v, str):
                    return len(v.encode())
                if isinstance(v, dict):
                    return sum(len(str(k).encode()) + size(x) for k, x in v.items())
                if isinstance(v, list):
                    return sum(size(x) for x in v)
                return 8

            def at_size(total):
                m = {"type": "k8s-job", "image": "python:long", "command": ["sleep", "3600"], "env": {}}
                i = 0
                while True:
                    name = "V%d" % i
                    m["env"][name] = ""
                    room = total - size(m)
                    assert room >= 0
                    if room <= 32000:
                        m["env"][name] = "v" * room
                        assert size(m) == total
                        return m
                    m["env"][name] = "v" * 32000
                    i += 1
            state['at_size'] = at_size
            """;

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static PythonPeer owner;
    static String ws;
    /** Its own service id: other workers may serve the same workspace meanwhile. */
    static final String SERVICE_ID = "k8s-worker-size-" + Long.toString(System.nanoTime(), 36);

    static Map<String, String> workerEnv() {
        Map<String, String> env = new HashMap<>(WorkerProcess.imageJvmEnv());
        env.putAll(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(), "HYPHA_K8S_NAMESPACE", namespace,
                "HYPHA_VISIBILITY", "public", "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "HYPHA_K8S_WORKER_KUBERNETES_START_TIMEOUT_SECONDS", "120", "HYPHA_SERVICE_ID", SERVICE_ID));
        return env;
    }

    @BeforeAll
    static void setUp() {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        namespace = "size-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        worker = new WorkerProcess(workerEnv()).start();
        owner = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-size-" + Long.toString(System.nanoTime(), 36)));
        ws = owner.workspace();
        owner.exec(AT_SIZE + "state['w'] = await server.get_service('%s/%s')".formatted(ws, SERVICE_ID));
    }

    @AfterAll
    static void tearDown() {
        if (owner != null) {
            owner.close();
        }
        if (worker != null) {
            worker.close();
        }
        if (kube != null && namespace != null) {
            kube.namespaces().withName(namespace).delete();
        }
    }

    private static List<Job> jobs() {
        return kube.batch().v1().jobs().inNamespace(namespace).list().getItems();
    }

    @Test
    void aRestartAmongTheMostSessionsAtTheSizeLimitComesBackListsThemAllAndKeepsItsHeapWellWithinTheMaximum() throws Exception {
        // at the limit: accepted; one byte over: refused by start and compile, naming the field and the setting
        JsonObject sizes = (JsonObject) owner.exec("""
                w = state['w']
                out = {"session": await w.start({"manifest": state['at_size'](%1$d)})}
                for call in ("start", "compile"):
                    try:
                        if call == "start":
                            await w.start({"manifest": state['at_size'](%1$d + 1)})
                        else:
                            await w.compile(state['at_size'](%1$d + 1))
                        out[call] = "accepted"
                    except Exception as e:
                        out[call] = str(e)
                return out
                """.formatted(MAX_MANIFEST_BYTES), Duration.ofSeconds(180));
        String first = sizes.getString("session");
        assertThat(first).startsWith(ws + "/");
        assertThat(sizes.getString("start")).contains("config.manifest.env: the session's manifest is " + (MAX_MANIFEST_BYTES + 1)
                + " bytes").contains("(policy.maxManifestBytes: " + MAX_MANIFEST_BYTES + ")")
                .doesNotContain("Peer", "Method not found", "Session not found");
        assertThat(sizes.getString("compile")).contains("manifest.env: the session's manifest is " + (MAX_MANIFEST_BYTES + 1) + " bytes")
                .contains("(policy.maxManifestBytes: " + MAX_MANIFEST_BYTES + ")");
        // nothing of the refused start
        assertThat(jobs()).hasSize(1);
        assertThat(kube.secrets().inNamespace(namespace).list().getItems()).isEmpty();

        // the rest of policy.maxSessionsTotal: copies of the worker's own Job, as the worker writes them
        Job template = jobs().get(0);
        List<String> expected = new java.util.ArrayList<>(List.of(first));
        for (int i = 1; i < MAX_SESSIONS; i++) {
            String clientId = "size-copy-" + i;
            String sessionId = ws + "/" + clientId;
            kube.batch().v1().jobs().inNamespace(namespace).resource(copyOf(template, sessionId, clientId)).create();
            expected.add(sessionId);
        }
        Await.until("a pod of each of the " + MAX_SESSIONS + " sessions", Duration.ofSeconds(300), () -> kube.pods().inNamespace(namespace)
                .withLabel(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE).list().getItems().size() >= MAX_SESSIONS);

        worker.kill();
        worker = new WorkerProcess(workerEnv()).start();

        JsonArray listed = (JsonArray) owner.exec("""
                for _ in range(100):
                    try:
                        state['w'] = await server.get_service('%s/%s')
                        return sorted(s['session_id'] for s in await state['w'].list_sessions())
                    except Exception:
                        await asyncio.sleep(0.3)
                """.formatted(ws, SERVICE_ID), Duration.ofSeconds(90));
        assertThat(listed.getList()).containsExactlyElementsOf(new TreeSet<>(expected));

        // a new caller, of another workspace, is served: once a place is free, its start at the size limit succeeds
        owner.exec("await state['w'].stop('%s')".formatted(first));
        Await.until("the stopped session's Job to go", Duration.ofSeconds(60), () -> jobs().stream()
                .noneMatch(j -> first.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))));
        String token = hypha.tokenFor("size-newcomer-" + Long.toString(System.nanoTime(), 36));
        try (PythonPeer newcomer = hypha.python(Map.of("token", token))) {
            assertThat(newcomer.workspace()).isNotEqualTo(ws);
            JsonObject out = (JsonObject) newcomer.exec(AT_SIZE + """
                    w = await server.get_service('%s/%s')
                    session = await w.start({"manifest": state['at_size'](%d)})
                    return {"session": session, "mine": [s['session_id'] for s in await w.list_sessions()]}
                    """.formatted(ws, SERVICE_ID, MAX_MANIFEST_BYTES), Duration.ofSeconds(180));
            assertThat(out.getString("session")).startsWith(newcomer.workspace() + "/");
            assertThat(out.getJsonArray("mine").getList()).containsExactly(out.getString("session"));
        }

        // the heap after a full collection: what the worker keeps of 200 large sessions
        Process gc = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(), String.valueOf(worker.pid()),
                "GC.run").redirectErrorStream(true).start();
        String gcOut = new String(gc.getInputStream().readAllBytes());
        assertThat(gc.waitFor()).as(gcOut).isZero();
        String metrics = worker.metrics();
        double used = sum(metrics, "jvm_memory_used_bytes");
        double max = sum(metrics, "jvm_memory_max_bytes");
        System.out.printf("heap after GC with %d sessions at %d bytes: %.1f MiB used of %.1f MiB%n", MAX_SESSIONS, MAX_MANIFEST_BYTES,
                used / 1048576, max / 1048576);
        // the image's -Xmx192m is in force (the pools' maxima add up to a little less)
        assertThat(max).isBetween(150.0 * 1048576, 192.0 * 1048576);
        assertThat(used).isLessThan(max / 2);
        assertThat(worker.readiness()).isEqualTo("UP");
    }

    /** The heap's share of a JVM memory metric: the sum over its heap pools. */
    private static double sum(String metrics, String name) {
        Matcher m = Pattern.compile("(?m)^" + name + "\\{([^}]*)\\} (\\S+)$").matcher(metrics);
        double total = 0;
        int pools = 0;
        while (m.find()) {
            if (m.group(1).contains("area=\"heap\"")) {
                total += Double.parseDouble(m.group(2));
                pools++;
            }
        }
        assertThat(pools).as(name + " of the heap's pools in /metrics").isPositive();
        return total;
    }

    /** The worker's Job for another session: its labels, annotations and manifest, under the new session's names. */
    private static Job copyOf(Job template, String sessionId, String clientId) {
        Job job = kube.getKubernetesSerialization().clone(template);
        String key = SessionMeta.sessionKey(sessionId);
        Map<String, String> labels = new LinkedHashMap<>(template.getMetadata().getLabels());
        labels.put(SessionMeta.SESSION_KEY, key);
        Map<String, String> annotations = new LinkedHashMap<>(template.getMetadata().getAnnotations());
        annotations.put(SessionMeta.SESSION_ID, sessionId);
        annotations.put(SessionMeta.CLIENT_ID, clientId);
        ObjectMeta meta = new ObjectMeta();
        meta.setName(SessionMeta.jobName(sessionId, clientId));
        meta.setNamespace(namespace);
        meta.setLabels(labels);
        meta.setAnnotations(annotations);
        job.setMetadata(meta);
        job.setStatus(null);
        // the Job controller's own selector and pod labels are made anew for each Job
        job.getSpec().setSelector(null);
        Map<String, String> podLabels = new LinkedHashMap<>();
        template.getSpec().getTemplate().getMetadata().getLabels().forEach((k, v) -> {
            if (!k.contains("controller-uid") && !k.contains("job-name")) {
                podLabels.put(k, v);
            }
        });
        podLabels.put(SessionMeta.SESSION_KEY, key);
        job.getSpec().getTemplate().getMetadata().setLabels(podLabels);
        job.getSpec().getTemplate().getMetadata().setAnnotations(Map.of(SessionMeta.SESSION_ID, sessionId));
        for (EnvVar e : job.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv()) {
            if (e.getName().equals("HYPHA_SESSION_ID")) {
                e.setValue(sessionId);
            } else if (e.getName().equals("HYPHA_CLIENT_ID")) {
                e.setValue(clientId);
            }
        }
        return job;
    }
}
