package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.rpc.MsgpackCodec;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * A protected worker, run with the image's JVM options (192 MiB heap, exit on OutOfMemoryError),
 * attacked through its RPC client by a member of its workspace who is not an admin and by an
 * anonymous client of another workspace: callbacks and reply channels that name someone else,
 * hostile msgpack bytes, and a heap fill through {@code message_cache}. After each, the owner's
 * session is intact and the worker still serves.
 */
@Tag("hypha")
@Tag("k8s")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class WorkerHostileCallerTest {

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static String workerId;
    static PythonPeer owner;
    static PythonPeer member;
    static PythonPeer stranger;
    static String ws;
    static String ownerSession;

    static final String RAW = """
            import msgpack
            async def raw(main, extra_bytes):
                await server.rpc._emit_message(msgpack.packb(main) + extra_bytes)
            """;

    @BeforeAll
    static void setUp() {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        String suffix = Long.toString(System.nanoTime(), 36);
        namespace = "hostile-" + suffix;
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        String clientId = "k8s-worker-hostile-" + suffix;
        worker = new WorkerProcess(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(),
                "HYPHA_K8S_NAMESPACE", namespace, "HYPHA_VISIBILITY", "protected", "HYPHA_CLIENT_ID", clientId,
                "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "JAVA_TOOL_OPTIONS", WorkerProcess.imageJvmOptions())).start();
        owner = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-owner-" + suffix));
        ws = owner.workspace();
        workerId = ws + "/" + clientId;
        owner.exec("""
                state['w'] = await server.get_service('%s:k8s-worker')
                state['rec'] = []
                await server.register_service({"id": "recorder", "config": {"visibility": "public"},
                                               "record": lambda *a, **k: state['rec'].append([list(a), k])})
                """.formatted(workerId));
        ownerSession = (String) owner.exec("return await state['w'].start({'manifest': {'image': 'busybox:1.36'}})");
        String memberToken = (String) owner.exec("return await server.generate_token({'permission': 'read_write', 'expires_in': 3600})");
        member = hypha.python(Map.of("token", memberToken, "workspace", ws, "client_id", "py-member-" + suffix));
        member.exec("state['w'] = await server.get_service('%s:k8s-worker')".formatted(workerId));
        stranger = hypha.python(Map.of("client_id", "py-stranger-" + suffix));
        assertThat(stranger.workspace()).isNotEqualTo(ws);
        stranger.exec("state['bi'] = await server.get_service('%s:built-in')".formatted(workerId));
    }

    @AfterAll
    static void tearDown() {
        for (PythonPeer p : new PythonPeer[] {stranger, member, owner}) {
            if (p != null) {
                p.close();
            }
        }
        if (worker != null) {
            worker.close();
        }
        if (kube != null && namespace != null) {
            kube.namespaces().withName(namespace).delete();
        }
    }

    /** After every attack: the worker lives and serves, and the owner's session is untouched. */
    @AfterEach
    void theWorkerStillServesAndTheOwnersSessionIsIntact() {
        assertThat(worker.isAlive()).as("worker process alive").isTrue();
        assertThat(worker.readiness()).isEqualTo("UP");
        JsonObject info = (JsonObject) owner.exec("return await state['w'].get_session_info('%s')".formatted(ownerSession));
        assertThat(info.getString("status")).isNotIn("stopping", "stopped");
        JsonArray sessions = (JsonArray) owner.exec("return [s['session_id'] for s in await state['w'].list_sessions()]");
        assertThat(sessions.getList()).contains(ownerSession);
        Job job = kube.batch().v1().jobs().inNamespace(namespace).list().getItems().stream()
                .filter(j -> ownerSession.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID)))
                .findFirst().orElseThrow(() -> new AssertionError("the owner's Job is gone"));
        assertThat(job.getMetadata().getDeletionTimestamp()).isNull();
        // nothing the worker was made to send reached the owner's recorder: the worker's replies to
        // the owner above travel the same way and would have come after anything it sent before
        assertThat((JsonArray) owner.exec("return state['rec']")).isEmpty();
    }

    private static String function(String target, String method) {
        return "{'_rtype': 'method', '_rtarget': '%s', '_rmethod': '%s', '_rpromise': '*'}".formatted(target, method);
    }

    @Test
    @Order(1)
    void aProgressCallbackNamingTheWorkersOwnShutdownIsRefusedAndStopsNothing() {
        JsonObject out = (JsonObject) member.exec("""
                out = {}
                for name, cb in [("shutdown", %s), ("recorder", %s)]:
                    try:
                        s = await state['w'].start({"manifest": {"image": "busybox:1.36"}, "progress_callback": cb})
                        out[name] = "started " + s
                    except Exception as e:
                        out[name] = str(e)
                try:
                    await state['w'].shutdown()
                    out["direct"] = "allowed"
                except Exception as e:
                    out["direct"] = str(e)
                progress = []
                own = await state['w'].start({"manifest": {"image": "busybox:1.36"}, "progress_callback": lambda m: progress.append(m)})
                await state['w'].stop(own)
                out["own_progress"] = len(progress)
                return out
                """.formatted(function(workerId, "services.k8s-worker.shutdown"), function(owner.fullClientId(), "services.recorder.record")),
                Duration.ofSeconds(90));
        assertThat(out.getString("shutdown")).contains("refused: args[0].progress_callback is a function of another client");
        assertThat(out.getString("recorder")).contains("refused: args[0].progress_callback is a function of another client");
        // the member is no admin: shutting the worker down directly is refused as well
        assertThat(out.getString("direct")).contains("only for admins");
        assertThat(out.getInteger("own_progress")).isPositive();
        assertThat(worker.logText()).contains("names another client");
    }

    @Test
    @Order(2)
    void aReplyChannelNamingAnotherClientGetsTheCallDroppedAndDeliversNothingToThatClient() {
        String promise = "{'resolve': %1$s, 'reject': %1$s, 'heartbeat': %1$s, 'interval': 0.2}"
                .formatted(function(owner.fullClientId(), "services.recorder.record"));
        String attack = RAW + """
                promise = %s
                for i, method in enumerate(["services.k8s-worker.list_sessions", "services.k8s-worker.shutdown",
                                            "services.k8s-worker.start", "services.built-in.ping"]):
                    await raw({"type": "method", "to": "%s", "method": method, "session": "evil%%d" %% i},
                              msgpack.packb({"promise": promise, "args": ["x"]}))
                """.formatted(promise, workerId);
        // the stranger may call nothing of this protected worker: the refusals must not be sent to the owner
        Object pong = stranger.exec(attack + "return await state['bi'].ping('after')");
        assertThat(pong).isEqualTo("pong");
        // the member may call: the calls are dropped rather than answered to the owner
        Object listed = member.exec(attack + "return len(await state['w'].list_sessions()) >= 0");
        assertThat(listed).isEqualTo(true);
        assertThat(worker.logText()).contains("dropping a call of services.k8s-worker.list_sessions from " + member.fullClientId());
    }

    @Test
    @Order(3)
    void hostileBytesAreDroppedAndTheWorkerKeepsServing() {
        String attack = RAW + """
                main = {"type": "method", "to": "%s", "method": "services.k8s-worker.list_sessions", "session": "bytes"}
                await raw(main, b"\\xdd\\x7f\\xff\\xff\\xff")                       # an array of 2^31-1 items
                await raw(main, b"\\xdf\\x7f\\xff\\xff\\xff")                       # a map of 2^31-1 entries
                await raw(main, b"\\xc6\\x7f\\xff\\xff\\xff")                       # 2 GiB of binary
                await raw(main, b"\\x91" * 100000 + b"\\xc0")                       # 100 000 nested arrays
                await raw(main, b"\\xdd\\x00\\x0f\\x42\\x40" + b"\\x80" * 1000000)  # a million empty maps
                """.formatted(workerId);
        assertThat(stranger.exec(attack + "return await state['bi'].ping('after')", Duration.ofSeconds(60))).isEqualTo("pong");
        assertThat(member.exec(attack + "return len(await state['w'].list_sessions()) >= 0", Duration.ofSeconds(60))).isEqualTo(true);
        assertThat(worker.logText()).contains("dropping a frame").contains("nested deeper than");
    }

    /** Nesting within the decoder's bound is answered, however deep, by a worker on the image's 512 KiB stacks. */
    @Test
    @Order(3)
    void aManifestNestedAsDeepAsTheDecoderTakesIsAnsweredWithAnError() {
        Object answer = member.exec("""
                deep = "leaf"
                for _ in range(%d):
                    deep = [deep]
                try:
                    await state['w'].compile({"image": "busybox:1.36", "env": {"DEEP": deep}})
                    return "accepted"
                except Exception as e:
                    return str(e)
                """.formatted(MsgpackCodec.MAX_DEPTH - 10), Duration.ofSeconds(60));
        assertThat(answer.toString()).contains("manifest.env.DEEP");
        assertThat(worker.logText()).doesNotContain("StackOverflowError");
    }

    @Test
    @Order(4)
    void aHeapFillThroughMessageCacheIsRefusedLongBeforeTheHeapIsAtRisk() throws Exception {
        Object refused = stranger.exec("""
                try:
                    await state['bi']["message_cache"]["create"]("fill", False)
                    return "accepted"
                except Exception as e:
                    return str(e)
                """);
        assertThat(refused.toString()).contains("large messages are accepted only from clients that may call a service of");

        String fill = """
                mc = (await server.get_service("%s:built-in"))["message_cache"]
                stored = 0
                try:
                    for k in range(40):
                        key = "fill-%%d" %% k
                        await mc["create"](key, False, True)
                        for i in range(64):
                            await mc["set"](key, i, bytes(262144), False)
                            stored += 262144
                    return [stored, "accepted"]
                except Exception as e:
                    return [stored, str(e)]
                """.formatted(workerId);
        long heap = 192L * 1024 * 1024;
        long total = 0;
        String memberToken = (String) owner.exec("return await server.generate_token({'permission': 'read_write', 'expires_in': 3600})");
        for (int i = 0; i < 3; i++) {
            try (PythonPeer filler = hypha.python(Map.of("token", memberToken, "workspace", ws,
                    "client_id", "py-filler-" + i + "-" + Long.toString(System.nanoTime(), 36)))) {
                JsonArray out = (JsonArray) filler.exec(fill, Duration.ofSeconds(120));
                assertThat(out.getString(1)).contains("too much data");
                // one sender gets at most 1/32 of the heap
                assertThat(out.getLong(0)).isLessThanOrEqualTo(heap / 32);
                total += out.getLong(0);
            }
        }
        // all senders together at most 1/8 of it
        assertThat(total).isLessThanOrEqualTo(heap / 8).isPositive();
        // large arguments from a caller still go through
        Object size = member.exec("""
                try:
                    await state['w'].get_session_info("x" * 600000)
                    return "answered"
                except Exception as e:
                    return "answered" if "Connection" not in str(e) else str(e)
                """, Duration.ofSeconds(60));
        assertThat(size).isEqualTo("answered");
        assertThat(List.of(worker.isAlive())).containsExactly(true);
    }
}
