package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonObject;

/**
 * stop and get_logs from callers who should learn nothing or take too much, with the real Python
 * client against a worker with the image's JVM options: a foreign session id is answered as an
 * unknown one, a caller looping get_logs is refused by its rate limit while another caller's start
 * goes through, and a log larger than the bounds comes back as a bounded tail.
 */
@Tag("hypha")
@Tag("k8s")
class LogsAbuseTest {

    @RegisterExtension
    final KubeCluster cluster = new KubeCluster();

    HyphaTestServer hypha;
    WorkerProcess worker;
    PythonPeer owner;
    PythonPeer other;
    String ws;
    /** Its own service id: other workers may serve the same workspace meanwhile. */
    final String serviceId = "k8s-worker-logs-" + Long.toString(System.nanoTime(), 36);

    @BeforeEach
    void connect() {
        hypha = HyphaTestServer.shared();
        owner = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-logs-" + Long.toString(System.nanoTime(), 36)));
        ws = owner.workspace();
        String token = hypha.tokenFor("logs-other-" + Long.toString(System.nanoTime(), 36));
        other = hypha.python(Map.of("token", token));
        assertThat(other.workspace()).isNotEqualTo(ws);
    }

    @AfterEach
    void close() {
        for (AutoCloseable c : new AutoCloseable[] {owner, other, worker}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                // the namespace goes with the test
            }
        }
    }

    private void startWorker(Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(WorkerProcess.imageJvmEnv());
        env.putAll(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(), "HYPHA_K8S_NAMESPACE", cluster.namespace(),
                "HYPHA_VISIBILITY", "public", "KUBECONFIG", KubeCluster.kubeconfigPath().toString(), "HYPHA_SERVICE_ID", serviceId));
        env.putAll(extra);
        worker = new WorkerProcess(env).start();
        for (PythonPeer p : List.of(owner, other)) {
            p.exec("state['w'] = await server.get_service('%s/%s')".formatted(ws, serviceId));
        }
    }

    private Job jobOf(String sessionId) {
        return cluster.client().batch().v1().jobs().inNamespace(cluster.namespace()).list().getItems().stream()
                .filter(j -> sessionId.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))).findFirst().orElse(null);
    }

    private String podOf(String sessionId) {
        return KubeCluster.await("the session's pod", Duration.ofSeconds(60), () -> cluster.client().pods().inNamespace(cluster.namespace())
                .withLabel(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(sessionId)).list().getItems().stream()
                .map(p -> p.getMetadata().getName()).findFirst().orElse(null));
    }

    @Test
    void stopAndGetLogsAnswerAnotherWorkspacesSessionIdExactlyAsAnIdThatDoesNotExist() {
        startWorker(Map.of());
        String session = (String) owner.exec("return await state['w'].start({'manifest': {'image': 'python:long'}})");
        cluster.setPodLog(podOf(session), "owner's secret output");
        // an id of the same workspace and length that names no session
        String clientId = session.substring(session.indexOf('/') + 1);
        String unknown = ws + "/" + "x".repeat(clientId.length());
        JsonObject out = (JsonObject) other.exec("""
                w = state['w']
                out = {}
                for label, sid in (("foreign", "%s"), ("unknown", "%s")):
                    for name, call in (("logs", lambda: w.get_logs(sid)), ("stop", lambda: w.stop(sid)),
                                       ("info", lambda: w.get_session_info(sid))):
                        try:
                            out[label + "-" + name] = {"result": await call()}
                        except Exception as e:
                            out[label + "-" + name] = {"type": type(e).__name__, "error": str(e).replace(sid, "<id>")}
                return out
                """.formatted(session, unknown));
        for (String call : List.of("logs", "stop", "info")) {
            assertThat(out.getJsonObject("foreign-" + call)).as(call).isEqualTo(out.getJsonObject("unknown-" + call));
        }
        // stop is idempotent: nothing to stop is no error, whoever's the id would be
        assertThat(out.getJsonObject("foreign-stop").getMap()).containsEntry("result", null);
        assertThat(out.getJsonObject("foreign-logs").getString("error")).contains("unknown session: <id>")
                .doesNotContain("Peer", "Method not found", "Session not found", "secret output");
        // and the owner's session is untouched
        assertThat(jobOf(session).getMetadata().getDeletionTimestamp()).isNull();
        JsonObject info = (JsonObject) owner.exec("return await state['w'].get_session_info('%s')".formatted(session));
        assertThat(info.getString("status")).isEqualTo("running");
    }

    @Test
    void aCallerLoopingGetLogsIsRefusedByItsRateLimitWhileAnotherCallersStartSucceeds() throws Exception {
        startWorker(Map.of());
        String own = (String) other.exec("return await state['w'].start({'manifest': {'image': 'python:long'}})");
        cluster.setPodLog(podOf(own), "the looping caller's own output");
        // twenty callers' worth of get_logs from one user, until the other caller's start is done
        CompletableFuture<Object> loop = other.execAsync("""
                state['done'] = False
                counts = {"ok": 0, "limited": 0, "other": []}
                async def hammer():
                    while not state['done']:
                        try:
                            await state['w'].get_logs("%s")
                            counts["ok"] += 1
                        except Exception as e:
                            if "too many calls" in str(e):
                                counts["limited"] += 1
                            else:
                                counts["other"].append(str(e))
                        state['calls'] = state.get('calls', 0) + 1
                await asyncio.gather(*[hammer() for _ in range(20)])
                return counts
                """.formatted(own));
        Await.until("the loop to be calling", Duration.ofSeconds(30),
                () -> ((Number) other.exec("return state.get('calls', 0)")).intValue() > 50);
        String started = (String) owner.exec("return await state['w'].start({'manifest': {'image': 'python:long'}})",
                Duration.ofSeconds(120));
        Object callsDuringStart = other.exec("return state['calls']");
        other.exec("state['done'] = True");
        JsonObject counts = (JsonObject) loop.get(60, TimeUnit.SECONDS);

        assertThat(started).startsWith(ws + "/");
        JsonObject info = (JsonObject) owner.exec("return await state['w'].get_session_info('%s')".formatted(started));
        assertThat(info.getString("status")).isEqualTo("running");
        assertThat(((Number) callsDuringStart).intValue()).isGreaterThan(50);
        assertThat(counts.getInteger("limited")).isPositive();
        assertThat(counts.getInteger("ok")).isPositive();
        assertThat(counts.getJsonArray("other")).isEmpty();
        // the refusal says what happened and which settings decide it
        String refusal = (String) other.exec("""
                for _ in range(100):
                    try:
                        await state['w'].get_logs("%s")
                    except Exception as e:
                        return str(e)
                """.formatted(own));
        assertThat(refusal).contains("get_logs: too many calls from this caller").contains("logs.burst").contains("logs.ratePerSecond")
                .doesNotContain("Peer", "Method not found", "Session not found");
        // the owner, another user, is not limited by the other's calls
        JsonObject logs = (JsonObject) owner.exec("return await state['w'].get_logs('%s')".formatted(started));
        assertThat(logs.getJsonArray("items")).isNotNull();
    }

    @Test
    void logReadsBeyondTheirOwnThreadsAreRefusedAsBusyWhileAnotherCallersStartSucceeds() throws Exception {
        // one log thread and no queue, and a rate limit that lets everything through: only the bulkhead stands
        startWorker(Map.of("HYPHA_K8S_WORKER_LOGS_THREADS", "1", "HYPHA_K8S_WORKER_LOGS_QUEUE", "0",
                "HYPHA_K8S_WORKER_LOGS_RATE_PER_SECOND", "100000", "HYPHA_K8S_WORKER_LOGS_BURST", "100000"));
        String own = (String) other.exec("return await state['w'].start({'manifest': {'image': 'python:long'}})");
        cluster.setPodLog(podOf(own), "the looping caller's own output");
        CompletableFuture<Object> loop = other.execAsync("""
                state['done'] = False
                counts = {"ok": 0, "busy": 0, "other": [], "calls": 0}
                async def hammer():
                    # until the other caller's start is done and the bulkhead has refused at least once
                    while (not state['done'] or counts["busy"] == 0) and counts["calls"] < 20000:
                        counts["calls"] += 1
                        try:
                            await state['w'].get_logs("%s")
                            counts["ok"] += 1
                        except Exception as e:
                            if "reading as many logs as it may at once" in str(e):
                                counts["busy"] += 1
                            else:
                                counts["other"].append(str(e))
                await asyncio.gather(*[hammer() for _ in range(20)])
                return counts
                """.formatted(own));
        String started = (String) owner.exec("return await state['w'].start({'manifest': {'image': 'python:long'}})",
                Duration.ofSeconds(120));
        other.exec("state['done'] = True");
        JsonObject counts = (JsonObject) loop.get(120, TimeUnit.SECONDS);

        assertThat(started).startsWith(ws + "/");
        JsonObject info = (JsonObject) owner.exec("return await state['w'].get_session_info('%s')".formatted(started));
        assertThat(info.getString("status")).isEqualTo("running");
        assertThat(counts.getInteger("busy")).as(counts.encode()).isPositive();
        assertThat(counts.getInteger("ok")).as(counts.encode()).isPositive();
        assertThat(counts.getJsonArray("other")).as(counts.encode()).isEmpty();
    }

    @Test
    void aPodLogLargerThanTheBoundsComesBackAsABoundedTail() {
        int tailLines = 100;
        int limitBytes = 4096;
        startWorker(Map.of("HYPHA_K8S_WORKER_LOGS_TAIL_LINES", String.valueOf(tailLines),
                "HYPHA_K8S_WORKER_LOGS_LIMIT_BYTES", String.valueOf(limitBytes)));
        String session = (String) owner.exec("return await state['w'].start({'manifest': {'image': 'python:long'}})");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            lines.add("line %05d %s".formatted(i, "x".repeat(60)));
        }
        cluster.setPodLog(podOf(session), lines.toArray(String[]::new));
        JsonObject logs = KubeCluster.await("the session's log through get_logs", Duration.ofSeconds(60), () -> {
            JsonObject l = (JsonObject) owner.exec("return await state['w'].get_logs('%s', type='stdout')".formatted(session));
            return l.getJsonArray("items").isEmpty() ? null : l;
        });
        List<String> got = logs.getJsonArray("items").stream().map(i -> ((JsonObject) i).getString("content")).toList();
        assertThat(got).hasSizeLessThanOrEqualTo(tailLines);
        assertThat(got.stream().mapToInt(s -> s.length() + 1).sum()).isLessThanOrEqualTo(limitBytes);
        assertThat(logs.getInteger("total")).isEqualTo(got.size());
        // the lines read are the log's last ones, in order (Kubernetes counts limitBytes from the first line of the tail)
        int from = lines.indexOf(got.get(0));
        assertThat(from).isGreaterThanOrEqualTo(lines.size() - tailLines);
        assertThat(got).containsExactlyElementsOf(lines.subList(from, from + got.size()));
        // a page of it
        JsonObject page = (JsonObject) owner.exec("return await state['w'].get_logs('%s', type='stdout', offset=2, limit=3)"
                .formatted(session));
        assertThat(page.getJsonArray("items").stream().map(i -> ((JsonObject) i).getString("content")).toList())
                .containsExactlyElementsOf(got.subList(2, 5));
        assertThat(page.getInteger("total")).isEqualTo(got.size());
    }
}
