package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.fuzz.CallArguments;
import io.hypha.testing.fuzz.CallArguments.Call;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;

/**
 * The worker over Hypha, called from the real Python client with arbitrary arguments: every call
 * answers, a refusal is a caller error (never an internal one, never the words the client retries
 * on, never an unbounded echo), and a start either leaves a running Job with its Secret or nothing.
 * Tries: {@code -Dfuzz.tries} (20 by default; {@code scripts/fuzz.sh} runs more).
 */
@Tag("hypha")
@Tag("k8s")
class WorkerCallFuzzTest {

    static final int TRIES = Integer.getInteger("fuzz.tries", 20);
    /** What a Java failure that escaped the worker's own checks looks like on the caller's side. */
    static final Pattern INTERNAL = Pattern.compile("internal error|[A-Za-z]+(Exception|Error)\\b|\\bat (io|java|jdk)\\.");

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static PythonPeer py;
    static String ws;
    static String existing;

    @BeforeAll
    static void setUp() {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        namespace = "fuzz-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        // a service id of its own: other workers may serve the same workspace meanwhile
        String serviceId = "k8s-worker-fuzz-" + Long.toString(System.nanoTime(), 36);
        worker = new WorkerProcess(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(), "HYPHA_SERVICE_ID", serviceId,
                "HYPHA_K8S_NAMESPACE", namespace, "HYPHA_VISIBILITY", "public", "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "HYPHA_K8S_WORKER_KUBERNETES_START_TIMEOUT_SECONDS", "20",
                "HYPHA_K8S_WORKER_KUBERNETES_UNSCHEDULABLE_GRACE_SECONDS", "2")).start();
        py = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-fuzz-" + Long.toString(System.nanoTime(), 36)));
        ws = py.workspace();
        py.exec("state['w'] = await server.get_service('%s/%s')".formatted(ws, serviceId));
        // a session with output, for get_logs and friends to find
        existing = (String) py.exec("""
                return await state['w'].start({"manifest": {"image": "busybox:1.36", "command": ["echo", "a\\nb\\nc"]}})
                """);
    }

    @AfterAll
    static void tearDown() {
        if (py != null) {
            py.close();
        }
        if (worker != null) {
            worker.close();
        }
        if (kube != null && namespace != null) {
            kube.namespaces().withName(namespace).delete();
        }
    }

    @Test
    void arbitraryCallsGetAnAnswerOrACallerErrorAndStartsLeaveAllOrNothing() {
        List<Call> calls = CallArguments.calls(ws, existing).sampleStream().limit(TRIES).toList();
        long t0 = System.nanoTime();
        int errors = 0;
        int started = 0;
        for (int i = 0; i < calls.size(); i++) {
            Call call = calls.get(i);
            String encoded = Base64.getEncoder().encodeToString(Json.encode(Map.of("args", packed(call.args()), "kwargs", packed(call.kwargs())))
                    .getBytes(StandardCharsets.UTF_8));
            JsonObject out = (JsonObject) py.exec("""
                    import base64, json
                    def unkey(k):
                        if k.startswith("__long__:"):
                            head, ch, n = json.loads(k[9:])
                            return head + ch * n
                        return k
                    def unpack(v):
                        if isinstance(v, dict):
                            if "__long__" in v and len(v) == 1:
                                head, ch, n = v["__long__"]
                                return head + ch * n
                            return {unkey(k): unpack(x) for k, x in v.items()}
                        if isinstance(v, list):
                            return [unpack(x) for x in v]
                        return v
                    a = unpack(json.loads(base64.b64decode("%s")))
                    try:
                        r = await asyncio.wait_for(getattr(state['w'], "%s")(*a["args"], **a["kwargs"]), 100)
                        return {"ok": True, "result": r if isinstance(r, str) else None}
                    except Exception as e:
                        text = str(e)
                        return {"ok": False, "kind": type(e).__name__, "length": len(text), "error": text[:3000]}
                    """.formatted(encoded, call.method()), Duration.ofSeconds(120));
            String what = "try %d: %s(%.300s, %.300s) -> %.1500s".formatted(i, call.method(), call.args(), call.kwargs(), out);
            if (!out.getBoolean("ok")) {
                errors++;
                String error = out.getString("error");
                assertThat(out.getString("kind")).as(what).isNotEqualTo("TimeoutError");
                assertThat(error).as(what).doesNotContain("Peer", "Method not found", "Session not found");
                // the Python client prefixes every remote failure with "RemoteError:"
                assertThat(INTERNAL.matcher(error.replaceFirst("^RemoteError:", "")).find()).as("an internal error: " + what).isFalse();
                assertThat(out.getInteger("length")).as("a bounded message: " + what).isLessThan(3000);
            }
            if ("start".equals(call.method())) {
                if (out.getBoolean("ok")) {
                    started++;
                    assertStartedWithEverythingItNeeds(out.getString("result"), what);
                } else {
                    assertNothingLeft(what);
                }
            }
        }
        System.out.printf("fuzz: WorkerCallFuzzTest %d calls (%d refused, %d sessions started) in %.1f s%n", calls.size(), errors,
                started, (System.nanoTime() - t0) / 1e9);
    }

    /**
     * Long strings (a head and one character repeated) sent as {"__long__": [head, char, n]}: the
     * Python peer reads its snippets as lines of at most 64 KiB.
     */
    static Object packed(Object v) {
        if (v instanceof String s && s.length() > 1000) {
            return Map.of("__long__", parts(s));
        }
        if (v instanceof Map<?, ?> m) {
            Map<Object, Object> out = new java.util.LinkedHashMap<>();
            m.forEach((k, x) -> out.put(k instanceof String ks && ks.length() > 1000 ? longKey(ks) : k, packed(x)));
            return out;
        }
        if (v instanceof List<?> l) {
            return l.stream().map(WorkerCallFuzzTest::packed).toList();
        }
        return v;
    }

    private static List<Object> parts(String s) {
        int i = s.length() - 1;
        while (i > 0 && s.charAt(i - 1) == s.charAt(s.length() - 1)) {
            i--;
        }
        return List.of(s.substring(0, i), s.substring(s.length() - 1), s.length() - i);
    }

    /** A long key, as a string: keys of a JSON object cannot be objects. */
    private static String longKey(String s) {
        return "__long__:" + Json.encode(parts(s));
    }

    private static List<Job> ownJobs() {
        return kube.batch().v1().jobs().inNamespace(namespace).list().getItems().stream()
                .filter(j -> j.getMetadata().getDeletionTimestamp() == null)
                .filter(j -> !existing.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))).toList();
    }

    private static void assertStartedWithEverythingItNeeds(String session, String what) {
        List<Job> jobs = ownJobs();
        assertThat(jobs).as(what).hasSize(1);
        Job job = jobs.get(0);
        assertThat(job.getMetadata().getAnnotations()).as(what).containsEntry(SessionMeta.SESSION_ID, session);
        assertThat(job.getSpec().getSuspend()).as(what).isNotEqualTo(Boolean.TRUE);
        Set<String> secretRefs = job.getSpec().getTemplate().getSpec().getContainers().stream()
                .flatMap(c -> c.getEnv().stream()).filter(e -> e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null)
                .map(e -> e.getValueFrom().getSecretKeyRef().getName()).collect(Collectors.toSet());
        String tokenSecret = SessionMeta.tokenSecretName(job.getMetadata().getName());
        if (secretRefs.contains(tokenSecret)) {
            assertThat(kube.secrets().inNamespace(namespace).withName(tokenSecret).get()).as("its token Secret: " + what).isNotNull();
        }
        py.exec("await state['w'].stop('%s')".formatted(session));
        Await.until("the session's Job to go", Duration.ofSeconds(30), () -> ownJobs().isEmpty());
    }

    private static void assertNothingLeft(String what) {
        // a start refused after its Job was created deletes it; give the deletion a moment
        Await.until("no Job or token Secret left after " + what, Duration.ofSeconds(30), () -> ownJobs().isEmpty()
                && kube.secrets().inNamespace(namespace).list().getItems().stream()
                        .filter(s -> s.getMetadata().getDeletionTimestamp() == null)
                        .map(Secret::getMetadata).noneMatch(m -> m.getOwnerReferences().stream()
                                .noneMatch(o -> o.getName().equals(jobNameOf(existing)))));
    }

    private static String jobNameOf(String session) {
        return kube.batch().v1().jobs().inNamespace(namespace).list().getItems().stream()
                .filter(j -> session.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID)))
                .map(j -> j.getMetadata().getName()).findFirst().orElse("");
    }
}
