package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

/**
 * Interface objects ({@code _rintf}) through the real server (interop plan item 29 and its
 * mirror): one Python sends is kept and called by Java after the call, and Java's {@code _dispose}
 * frees it in Python; one Java sends lives past its call, answers only the client it was sent to,
 * and goes when that client disposes of it or disconnects.
 */
@Tag("hypha")
class InterfaceInteropTest {

    static Vertx vertx;
    static HyphaTestServer server;
    static HyphaClient java;
    static HyphaClient holder;
    static PythonPeer py;
    static PythonPeer attacker;
    static final AtomicReference<Object> kept = new AtomicReference<>();
    static final Map<String, AtomicInteger> counters = new java.util.concurrent.ConcurrentHashMap<>();

    /** A counter as an interface object: its functions live past the call that returned it. */
    static Map<String, Object> counter(String tag) {
        AtomicInteger n = counters.computeIfAbsent(tag, k -> new AtomicInteger());
        Map<String, Object> intf = new LinkedHashMap<>();
        intf.put("_rintf", true);
        intf.put("tag", tag);
        intf.put("inc", RpcFunction.of("inc", inv -> n.incrementAndGet()));
        intf.put("get", RpcFunction.of("get", inv -> n.get()));
        return intf;
    }

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        server = HyphaTestServer.shared();
        java = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-intf-" + HyphaClient.newId(6))));
        Await.result(java.registerService(ServiceDefinition.builder("java-intf").visibility(Visibility.PUBLIC)
                .function(RpcFunction.of("keep", inv -> {
                    kept.set(inv.arg("obj"));
                    return "kept";
                }).param("obj"))
                .function(RpcFunction.of("counter", inv -> counter(inv.stringArg("tag"))).param("tag"))
                .build()));
        holder = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-intf-holder-" + HyphaClient.newId(6))));
        py = server.python(Map.of("token", server.userToken(), "client_id", "py-intf-" + HyphaClient.newId(6)));
        py.exec("state['java'] = await server.get_service('%s:java-intf')".formatted(java.fullClientId()));
        attacker = server.python(Map.of("client_id", "py-intf-attacker-" + HyphaClient.newId(6)));
    }

    @AfterAll
    static void tearDown() {
        for (PythonPeer p : new PythonPeer[] {py, attacker}) {
            if (p != null) {
                p.close();
            }
        }
        for (HyphaClient c : new HyphaClient[] {java, holder}) {
            if (c != null) {
                Await.result(c.disconnect());
            }
        }
        vertx.close();
    }

    @Test
    void javaCallsAPythonInterfaceAfterTheCallAndItsDisposeFreesItInPython() {
        py.exec("""
                state['calc'] = {"_rintf": True, "name": "calc", "add": lambda a, b: a + b}
                return await state['java'].keep(state['calc'])
                """);
        assertThat(kept.get()).isInstanceOf(RemoteInterface.class);
        RemoteInterface calc = (RemoteInterface) kept.get();
        assertThat(calc.get("name")).isEqualTo("calc");
        assertThat(Await.result(calc.function("add").call(2, 3))).isEqualTo(5L);
        String id = calc.interfaceId();
        assertThat(id).startsWith("_rintf_");
        assertThat(py.exec("return '%s' in server.rpc._services".formatted(id))).isEqualTo(true);

        Await.result(calc.dispose());
        assertThat(py.exec("return '%s' in server.rpc._services".formatted(id))).isEqualTo(false);
        assertThat(Await.failure(calc.function("add").call(2, 3), Duration.ofSeconds(20))).isNotNull();
    }

    @Test
    void pythonKeepsCallingAJavaInterfaceAfterItsCallUntilItDisposesOfIt() {
        JsonObject out = (JsonObject) py.exec("""
                c = await state['java'].counter('py-held')
                state['c'] = c
                await c.inc()
                await c.inc()
                return {"tag": c.tag, "count": await c.get()}
                """);
        assertThat(out.getString("tag")).isEqualTo("py-held");
        assertThat(out.getInteger("count")).isEqualTo(2);
        assertThat(Await.result(java.interfaceIds())).isNotEmpty();
        int before = Await.result(java.interfaceIds()).size();

        String after = (String) py.exec("""
                await state['c']._dispose()
                try:
                    await state['c'].inc()
                    return "still answered"
                except Exception as e:
                    return str(e)
                """);
        assertThat(after).contains("Method not found");
        assertThat(Await.result(java.interfaceIds())).hasSize(before - 1);
        assertThat(counters.get("py-held").get()).isEqualTo(2);
    }

    @Test
    void onlyTheClientAnInterfaceWasSentToMayCallIt() {
        RemoteService svc = Await.result(holder.getService(java.fullClientId() + ":java-intf"));
        RemoteInterface c = (RemoteInterface) Await.result(svc.call("counter", "guarded"));
        assertThat(Await.result(c.function("inc").call())).isEqualTo(1L);
        JsonObject out = (JsonObject) attacker.exec("""
                out = {}
                for name, path in [("inc", "%s"), ("dispose", "%s")]:
                    fn = server.rpc._generate_remote_method({"_rtarget": "%s", "_rmethod": path, "_rpromise": "*"})
                    try:
                        out[name] = await fn()
                    except Exception as e:
                        out[name] = "refused: " + str(e)
                return out
                """.formatted(c.function("inc").path(), c.function("_dispose").path(), java.fullClientId()));
        assertThat(out.getString("inc")).startsWith("refused: ").contains("Permission denied for interface method");
        assertThat(out.getString("dispose")).startsWith("refused: ").contains("Permission denied for interface method");
        assertThat(counters.get("guarded").get()).isEqualTo(1);
        assertThat(Await.result(java.interfaceIds())).contains(c.interfaceId());
        // the rightful holder still may
        assertThat(Await.result(c.function("get").call())).isEqualTo(1L);
        Await.result(c.dispose());
        assertThat(Await.result(java.interfaceIds())).doesNotContain(c.interfaceId());
    }

    @Test
    void anInterfaceIsDroppedWhenTheClientHoldingItDisconnects() {
        PythonPeer leaving = server.python(Map.of("token", server.userToken(), "client_id", "py-intf-leaving-" + HyphaClient.newId(6)));
        String id;
        try {
            id = (String) leaving.exec("""
                    c = await (await server.get_service('%s:java-intf')).counter('leaving')
                    state['c'] = c
                    await c.inc()
                    return c._rintf_service_id
                    """.formatted(java.fullClientId()));
            assertThat(Await.result(java.interfaceIds())).contains(id);
        } finally {
            leaving.kill();
        }
        Await.until("the interface of the client that left is dropped", Duration.ofSeconds(60),
                () -> !Await.result(java.interfaceIds()).contains(id));
    }
}
