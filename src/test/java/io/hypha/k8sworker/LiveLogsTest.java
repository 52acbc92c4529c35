package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
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

import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * get_logs(session_id, follow=True) from the real Python client against a worker with the image's
 * JVM options: a generator of the container's output lines as they are written (kwok follows a log
 * file the test appends to, as a kubelet streams a running container), which ends when the pod
 * ends, and whose Kubernetes stream is closed when the caller closes the generator or leaves.
 * Other workspaces' ids are answered as unknown ones.
 */
@Tag("hypha")
@Tag("k8s")
class LiveLogsTest {

    @RegisterExtension
    final KubeCluster cluster = new KubeCluster();

    HyphaTestServer hypha;
    WorkerProcess worker;
    PythonPeer owner;
    PythonPeer other;
    String ws;
    /** Its own service id: other workers may serve the same workspace meanwhile. */
    final String serviceId = "k8s-worker-follow-" + Long.toString(System.nanoTime(), 36);

    @BeforeEach
    void start() {
        hypha = HyphaTestServer.shared();
        owner = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-follow-" + Long.toString(System.nanoTime(), 36)));
        ws = owner.workspace();
        String token = hypha.tokenFor("follow-other-" + Long.toString(System.nanoTime(), 36));
        other = hypha.python(Map.of("token", token));
        Map<String, String> env = new HashMap<>(WorkerProcess.imageJvmEnv());
        env.putAll(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(), "HYPHA_K8S_NAMESPACE", cluster.namespace(),
                "HYPHA_VISIBILITY", "public", "KUBECONFIG", KubeCluster.kubeconfigPath().toString(), "HYPHA_SERVICE_ID", serviceId,
                // the tests poll get_logs until kwok serves their log file; the rate limit is LogsAbuseTest's subject
                "HYPHA_K8S_WORKER_LOGS_RATE_PER_SECOND", "1000", "HYPHA_K8S_WORKER_LOGS_BURST", "1000"));
        worker = new WorkerProcess(env).start();
        for (PythonPeer p : List.of(owner, other)) {
            p.exec("state['w'] = await server.get_service('%s/%s')".formatted(ws, serviceId));
        }
    }

    @AfterEach
    void stop() {
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

    private String podOf(String sessionId) {
        return KubeCluster.await("the session's pod", Duration.ofSeconds(60), () -> cluster.client().pods().inNamespace(cluster.namespace())
                .withLabel(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(sessionId)).list().getItems().stream()
                .map(p -> p.getMetadata().getName()).findFirst().orElse(null));
    }

    /** A running session whose pod's log kwok follows, its first line already served. */
    private Path runningSessionWithFollowedLog(String session, String firstLine) {
        Path file = cluster.followPodLog(podOf(session), firstLine);
        KubeCluster.await("kwok serving the session's log", Duration.ofSeconds(60), () -> {
            JsonObject l = (JsonObject) owner.exec("return await state['w'].get_logs('%s', type='stdout')".formatted(session));
            return l.getJsonArray("items").stream().anyMatch(i -> firstLine.equals(((JsonObject) i).getString("content"))) ? l : null;
        });
        return file;
    }

    private String startSession() {
        return (String) owner.exec("return await state['w'].start({'manifest': {'image': 'python:long'}})", Duration.ofSeconds(120));
    }

    @Test
    void aCallerSeesTheOutputOfARunningJobAsItIsWrittenAndClosingStopsTheStream() {
        String session = startSession();
        Path log = runningSessionWithFollowedLog(session, "line 1");
        Object first = owner.exec("""
                state['gen'] = await state['w'].get_logs('%s', follow=True)
                return await state['gen'].__anext__()
                """.formatted(session));
        assertThat(first).isEqualTo("line 1");

        // lines written after the follow began arrive while the job still runs
        KubeCluster.appendPodLog(log, "line 2");
        assertThat(owner.exec("return await state['gen'].__anext__()")).isEqualTo("line 2");
        KubeCluster.appendPodLog(log, "line 3", "line 4 with ünïcode");
        assertThat(owner.exec("return [await state['gen'].__anext__() for _ in range(2)]"))
                .isEqualTo(new JsonArray(List.of("line 3", "line 4 with ünïcode")));
        JsonObject info = (JsonObject) owner.exec("return await state['w'].get_session_info('%s')".formatted(session));
        assertThat(info.getString("status")).isEqualTo("running");

        owner.exec("await state.pop('gen').aclose()");
        String pod = podOf(session);
        Await.until("the worker to close the Kubernetes log stream", Duration.ofSeconds(30),
                () -> worker.logText().contains("follow of the log of pod " + pod + " ended: closed by the caller"));
    }

    @Test
    void aFollowedLogEndsWhenTheSessionsPodEnds() throws Exception {
        String session = startSession();
        runningSessionWithFollowedLog(session, "before the stop");
        CompletableFuture<Object> all = owner.execAsync("""
                got = []
                async for line in await state['w'].get_logs('%s', follow=True):
                    got.append(line)
                    state['first'] = True
                return got
                """.formatted(session));
        Await.until("the first line", Duration.ofSeconds(30), () -> Boolean.TRUE.equals(owner.exec("return state.get('first')")));
        owner.exec("await state['w'].stop('%s')".formatted(session));
        Object got = all.get(90, TimeUnit.SECONDS);
        assertThat(got).isEqualTo(new JsonArray(List.of("before the stop")));
    }

    @Test
    void aCallerThatLeavesMidStreamHasItsStreamClosed() {
        String session = startSession();
        runningSessionWithFollowedLog(session, "for the one who leaves");
        PythonPeer leaving = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-follow-leaving-" + Long.toString(System.nanoTime(), 36)));
        try {
            Object first = leaving.exec("""
                    w = await server.get_service('%s/%s')
                    state['gen'] = await w.get_logs('%s', follow=True)
                    return await state['gen'].__anext__()
                    """.formatted(ws, serviceId, session));
            assertThat(first).isEqualTo("for the one who leaves");
        } finally {
            leaving.kill();
        }
        String pod = podOf(session);
        Await.until("the worker to close the stream of the caller that left", Duration.ofSeconds(60),
                () -> worker.logText().contains("follow of the log of pod " + pod + " ended: closed by the caller"));
        assertThat(worker.logText()).contains("which disconnected");
    }

    @Test
    void anotherWorkspaceFollowingASessionIsAnsweredAsForAnIdThatDoesNotExistAndBadArgumentsAreNamed() {
        String session = startSession();
        runningSessionWithFollowedLog(session, "the owner's secret output");
        String clientId = session.substring(session.indexOf('/') + 1);
        String unknown = ws + "/" + "x".repeat(clientId.length());
        JsonObject out = (JsonObject) other.exec("""
                out = {}
                for label, sid in (("foreign", "%s"), ("unknown", "%s")):
                    try:
                        gen = await state['w'].get_logs(sid, follow=True)
                        out[label] = {"result": [line async for line in gen]}
                    except Exception as e:
                        out[label] = {"type": type(e).__name__, "error": str(e).replace(sid, "<id>")}
                return out
                """.formatted(session, unknown));
        assertThat(out.getJsonObject("foreign")).isEqualTo(out.getJsonObject("unknown"));
        assertThat(out.getJsonObject("foreign").getString("error")).contains("unknown session: <id>")
                .doesNotContain("Peer", "Method not found", "Session not found", "secret output");

        JsonObject bad = (JsonObject) owner.exec("""
                out = {}
                for name, kwargs in (("follow", {"follow": "yes"}), ("offset", {"follow": True, "offset": 5}),
                                     ("type", {"follow": True, "type": "info"})):
                    try:
                        await state['w'].get_logs('%s', **kwargs)
                        out[name] = "accepted"
                    except Exception as e:
                        out[name] = str(e)
                return out
                """.formatted(session));
        assertThat(bad.getString("follow")).contains("follow must be a boolean");
        assertThat(bad.getString("offset")).contains("offset and limit page a get_logs without follow");
        assertThat(bad.getString("type")).contains("type: a followed log is the container's output");
    }
}
