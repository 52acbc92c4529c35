package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Interop plan item 36: the frames Java writes (a call, a resolve, a reject, a heartbeat, a chunk
 * upload and a register_service) decode with Python's {@code msgpack.Unpacker(raw=False,
 * strict_map_key=True)} into the shapes of the protocol, and frames the real Python client writes
 * decode in Java. A small in-test server records the frames; no Hypha server is involved.
 */
@Tag("hypha")
class WireFormatTest {

    static final String WS = "ws-wire";
    static final String MANAGER = "manager-wire";
    static Vertx vertx;
    static HttpServer fake;
    static final List<byte[]> fromJava = new CopyOnWriteArrayList<>();
    static volatile ServerWebSocket javaSocket;

    @BeforeAll
    static void startFakeServer() {
        vertx = Vertx.vertx();
        fake = Await.result(vertx.createHttpServer(new HttpServerOptions().setMaxWebSocketFrameSize(1 << 20)
                .setMaxWebSocketMessageSize(1 << 22)).webSocketHandler(WireFormatTest::accept).listen(0, "127.0.0.1"));
    }

    @AfterAll
    static void stop() {
        vertx.close();
    }

    /** Plays just enough of the server and of the peers for the frames of interest to be written. */
    private static void accept(ServerWebSocket ws) {
        String[] clientId = new String[1];
        ws.textMessageHandler(text -> {
            JsonObject auth = new JsonObject(text);
            if (auth.containsKey("client_id")) {
                clientId[0] = auth.getString("client_id");
                javaSocket = ws;
                ws.writeTextMessage(new JsonObject().put("type", "connection_info").put("hypha_version", "0.21.137")
                        .put("public_base_url", "http://127.0.0.1:" + fake.actualPort()).put("local_base_url", "http://127.0.0.1")
                        .put("manager_id", MANAGER).put("workspace", WS).put("client_id", clientId[0])
                        .put("user", new JsonObject().put("id", "tester").put("is_anonymous", false))
                        .put("reconnection_token", "rt").put("reconnection_token_life_time", 3600).encode());
            }
        });
        ws.binaryMessageHandler(buffer -> {
            byte[] bytes = buffer.getBytes();
            fromJava.add(bytes);
            Map<String, Object> msg = MsgpackCodec.unpackFrame(bytes).merged();
            String from = WS + "/" + clientId[0];
            String to = String.valueOf(msg.get("to"));
            String method = String.valueOf(msg.get("method"));
            Object session = msg.get("session");
            if (session == null) {
                return;
            }
            Object result = null;
            if (method.equals("services.built-in.get_service")) {
                result = peerBuiltIn(to);
            }
            Map<String, Object> reply = new LinkedHashMap<>();
            reply.put("type", "method");
            reply.put("from", to.startsWith("*/") ? to : to);
            reply.put("to", from);
            reply.put("method", session + ".resolve");
            reply.put("parent", session);
            reply.put("ws", WS);
            List<Object> args = new ArrayList<>();
            args.add(result);
            ws.writeBinaryMessage(MsgpackCodec.packFrame(reply, Map.of("args", args)));
        });
    }

    private static Map<String, Object> peerBuiltIn(String peer) {
        Map<String, Object> cache = new LinkedHashMap<>();
        for (String m : List.of("create", "set", "append", "process", "remove")) {
            cache.put(m, Map.of("_rtype", "method", "_rtarget", peer, "_rmethod", "services.built-in.message_cache." + m, "_rpromise", "*"));
        }
        return Map.of("id", "built-in", "config", Map.of("api_version", 3), "message_cache", cache);
    }

    /** A call into the Java client, as a peer in the same workspace would send it. */
    private static void callJava(String method, String session, List<Object> args) {
        Map<String, Object> main = new LinkedHashMap<>();
        main.put("type", "method");
        main.put("from", WS + "/peer");
        main.put("to", WS + "/java-wire");
        main.put("method", method);
        main.put("session", session);
        main.put("ws", WS);
        main.put("user", Map.of("id", "tester"));
        javaSocket.writeBinaryMessage(MsgpackCodec.packFrame(main, Map.of("args", args, "promise", "*", "t", 15.0)));
    }

    @Test
    void javaFramesDecodeInPythonAndPythonFramesDecodeInJava() throws Exception {
        HyphaClient java = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl("http://127.0.0.1:" + fake.actualPort()).setClientId("java-wire")));
        Await.result(java.registerService(ServiceDefinition.builder("wire-svc")
                .function(RpcFunction.of("ok", inv -> Map.of("value", inv.arg("x"))).param("x"))
                .function(RpcFunction.of("fail", inv -> {
                    throw new IllegalArgumentException("wire failure");
                }))
                .build()));
        Map<String, Object> peerMethod = Map.of("_rtype", "method", "_rtarget", WS + "/peer", "_rmethod", "services.x.f", "_rpromise", "*");
        RemoteMethod f = new RemoteMethod(java, peerMethod, null);
        Await.result(f.callWithKwargs(List.of(1, "two"), Map.of("b", 2.5)));
        // the upload ends with process(); this stand-in does not reassemble, so the call itself stays open
        f.call((Object) new byte[600_000]);
        Await.until("the chunked upload", Duration.ofSeconds(10), () -> fromJava.stream()
                .anyMatch(b -> String.valueOf(MsgpackCodec.unpackFrame(b).main().get("method")).endsWith("message_cache.process")));

        // a peer calls Java: it answers with a heartbeat and a resolve, then with a heartbeat and a reject
        callJava("services.wire-svc.ok", "S1", List.of(5));
        callJava("services.wire-svc.fail", "S2", List.of());
        Await.until("Java's replies", Duration.ofSeconds(10), () -> fromJava.stream()
                .map(b -> String.valueOf(MsgpackCodec.unpackFrame(b).main().get("method")))
                .filter(m -> m.equals("S1.resolve") || m.equals("S2.reject")).count() == 2);

        Path dir = HyphaTestServer.projectDir().resolve("target/wire");
        Files.createDirectories(dir);
        for (Path old : Files.list(dir).toList()) {
            Files.delete(old);
        }
        for (int i = 0; i < fromJava.size(); i++) {
            Files.write(dir.resolve(String.format("java-%03d.msgpack", i)), fromJava.get(i));
        }
        JsonArray decoded = pythonDecode(dir);
        List<String> kinds = new ArrayList<>();
        for (Object o : decoded) {
            JsonObject frame = (JsonObject) o;
            JsonObject main = frame.getJsonObject("main");
            assertThat(main.getString("type")).isEqualTo("method");
            assertThat(main.getString("from")).isEqualTo(WS + "/java-wire");
            String method = main.getString("method");
            JsonObject extra = frame.getJsonObject("extra");
            if (method.equals("services.default.register_service")) {
                JsonObject svc = extra.getJsonArray("args").getJsonObject(0);
                assertThat(svc.getString("id")).startsWith(WS + "/java-wire:");
                assertThat(svc.getJsonObject("config").getString("workspace")).isEqualTo(WS);
                assertThat(extra.getString("promise")).isEqualTo("*");
                assertThat(extra.getDouble("t")).isEqualTo(15.0);
                kinds.add("register_service:" + svc.getString("id").substring(svc.getString("id").indexOf(':') + 1));
            } else if (method.equals("services.x.f") && extra.getBoolean("with_kwargs", false)) {
                assertThat(extra.getJsonArray("args").encode()).isEqualTo("[1,\"two\",{\"b\":2.5}]");
                assertThat(main.getString("session")).isNotBlank();
                kinds.add("call");
            } else if (method.endsWith("message_cache.set")) {
                JsonArray args = extra.getJsonArray("args");
                assertThat(args.getString(2)).matches("bytes:\\d+");
                assertThat(extra.getString("promise")).isEqualTo("*");
                kinds.add("chunk_set");
            } else if (method.equals("S1.resolve")) {
                assertThat(main.getString("parent")).isEqualTo("S1");
                assertThat(extra.getJsonArray("args").getJsonObject(0).getInteger("value")).isEqualTo(5);
                kinds.add("resolve");
            } else if (method.equals("S2.reject")) {
                JsonObject error = extra.getJsonArray("args").getJsonObject(0);
                assertThat(error.getString("_rtype")).isEqualTo("error");
                assertThat(error.getString("_rvalue")).isEqualTo("wire failure");
                assertThat(error.getString("_rtrace")).contains("IllegalArgumentException");
                kinds.add("reject");
            } else if (method.endsWith(".heartbeat")) {
                assertThat(main.getString("parent")).isEqualTo(method.substring(0, method.indexOf('.')));
                kinds.add("heartbeat");
            } else {
                kinds.add(method.substring(method.lastIndexOf('.') + 1));
            }
        }
        assertThat(kinds).contains("register_service:built-in", "register_service:wire-svc", "call", "chunk_set", "create",
                "process", "resolve", "reject", "heartbeat");
        assertThat(kinds.indexOf("register_service:built-in")).isLessThan(kinds.indexOf("register_service:wire-svc"));
        Await.result(java.disconnect());
    }

    @Test
    void framesOfTheRealPythonClientDecodeInJava() throws Exception {
        Path dir = HyphaTestServer.projectDir().resolve("target/wire-python");
        Files.createDirectories(dir);
        String script = """
                import asyncio, sys, msgpack
                from hypha_rpc.rpc import RPC
                class Capture:
                    manager_id = "manager-wire"
                    workspace = "ws-wire"
                    def __init__(self): self.frames = []
                    async def emit_message(self, data): self.frames.append(bytes(data))
                    def on_message(self, handler): self.handler = handler
                    def on_connected(self, cb): pass
                    def on_disconnected(self, cb): pass
                async def main():
                    cap = Capture()
                    rpc = RPC(cap, client_id="py", workspace="ws-wire", server_base_url="http://127.0.0.1", silent=True)
                    async def ok(x):
                        await asyncio.sleep(0.05)
                        return {"value": x}
                    rpc.add_service({"id": "py-svc", "config": {"visibility": "protected"},
                                     "ok": ok, "fail": lambda: 1 / 0})
                    call = rpc._generate_remote_method({"_rtype": "method", "_rtarget": "ws-wire/java",
                        "_rmethod": "services.java-svc.echo", "_rpromise": "*"})
                    asyncio.ensure_future(call(1, b"\\x00\\x01", cb=lambda i: i))
                    await asyncio.sleep(0.2)
                    for session, method, args in [("S1", "services.py-svc.ok", [5]), ("S2", "services.py-svc.fail", [])]:
                        main = {"type": "method", "from": "ws-wire/java", "to": "ws-wire/py", "method": method,
                                "session": session, "ws": "ws-wire", "user": {"id": "tester"}}
                        cap.handler(msgpack.packb(main) + msgpack.packb({"args": args, "promise": "*", "t": 15.0}))
                    await asyncio.sleep(0.5)
                    for i, frame in enumerate(cap.frames):
                        open("%s/py-%03d.msgpack" % (sys.argv[1], i), "wb").write(frame)
                asyncio.run(main())
                """;
        Process p = new ProcessBuilder(HyphaTestServer.shared().python(), "-c", script, dir.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();

        Map<String, Map<String, Object>> byMethod = new LinkedHashMap<>();
        try (var files = Files.list(dir)) {
            for (Path file : files.sorted().toList()) {
                Map<String, Object> msg = MsgpackCodec.unpackFrame(Files.readAllBytes(file)).merged();
                byMethod.put(String.valueOf(msg.get("method")), msg);
            }
        }
        Map<String, Object> call = byMethod.get("services.java-svc.echo");
        assertThat(call).containsEntry("type", "method").containsEntry("to", "ws-wire/java").containsEntry("promise", "*")
                .containsEntry("with_kwargs", true).containsKey("session").containsKey("t");
        List<?> args = (List<?>) call.get("args");
        assertThat(args.get(0)).isEqualTo(1L);
        assertThat((byte[]) args.get(1)).containsExactly(0, 1);
        Map<?, ?> callback = (Map<?, ?>) ((Map<?, ?>) args.get(2)).get("cb");
        assertThat(callback.get("_rtype")).isEqualTo("method");
        assertThat(String.valueOf(callback.get("_rmethod"))).startsWith(call.get("session") + ".");

        Map<String, Object> resolve = byMethod.get("S1.resolve");
        assertThat(resolve).containsEntry("parent", "S1").doesNotContainKey("session");
        assertThat(resolve.get("args")).isEqualTo(List.of(Map.of("value", 5L)));
        Map<String, Object> reject = byMethod.get("S2.reject");
        Map<?, ?> error = (Map<?, ?>) ((List<?>) reject.get("args")).get(0);
        assertThat(error.get("_rtype")).isEqualTo("error");
        assertThat(String.valueOf(error.get("_rvalue"))).contains("division by zero");
        assertThat(byMethod).containsKey("S1.heartbeat");
    }

    private static JsonArray pythonDecode(Path dir) throws Exception {
        String script = """
                import glob, json, sys, msgpack
                out = []
                def show(v):
                    if isinstance(v, bytes): return "bytes:%d" % len(v)
                    if isinstance(v, dict): return {k: show(x) for k, x in v.items()}
                    if isinstance(v, list): return [show(x) for x in v]
                    return v
                for path in sorted(glob.glob(sys.argv[1] + "/*.msgpack")):
                    u = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=2**24)
                    u.feed(open(path, "rb").read())
                    objs = list(u)
                    assert 1 <= len(objs) <= 2 and all(isinstance(o, dict) for o in objs), path
                    out.append({"main": show(objs[0]), "extra": show(objs[1]) if len(objs) > 1 else {}})
                print(json.dumps(out))
                """;
        Process p = new ProcessBuilder(HyphaTestServer.shared().python(), "-c", script, dir.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return new JsonArray(out.trim());
    }
}
