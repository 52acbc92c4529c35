package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

/** Java calls Python (interop plan items 20 to 27), through the real server. */
@Tag("hypha")
class JavaCallerInteropTest {

    static final String PY_SERVICE = """
            def make_adder(k):
                def adder(x):
                    return x + k
                return adder
            async def call_cb(cb, n):
                return [await cb(i) for i in range(n)]
            async def hello(name, greeting="hello"):
                return greeting + " " + name
            async def fail(msg):
                raise ValueError(msg)
            async def slow(seconds):
                await asyncio.sleep(seconds)
                return "slept"
            def block(seconds):
                time.sleep(seconds)
                return "blocked"
            def size(blob):
                return len(blob)
            def big(n):
                return bytes(i % 251 for i in range(251)) * (n // 251) + bytes(n % 251)
            state["svc"] = await server.register_service({"id": "py-svc", "config": {"visibility": "protected"},
                "hello": hello, "call_cb": call_cb, "make_adder": make_adder, "fail": fail, "slow": slow,
                "block": block, "size": size, "big": big})
            return state["svc"]["id"]
            """;

    static Vertx vertx;
    static HyphaTestServer server;
    static HyphaClient java;
    static PythonPeer py;

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        server = HyphaTestServer.shared();
        java = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-caller-" + HyphaClient.newId(6))));
        py = server.python(Map.of("token", server.userToken(), "client_id", "py-caller-" + HyphaClient.newId(6)));
        py.exec(PY_SERVICE);
    }

    @AfterAll
    static void tearDown() {
        if (py != null) {
            py.close();
        }
        if (java != null) {
            Await.result(java.disconnect());
        }
        vertx.close();
    }

    private RemoteService pySvc() {
        return Await.result(java.getService(py.fullClientId() + ":py-svc"));
    }

    @Test
    void callsPythonWithPositionalAndKeywordArgumentsAndAJavaCallback() {
        RemoteService svc = pySvc();
        assertThat(Await.result(svc.call("hello", "java"))).isEqualTo("hello java");
        assertThat(Await.result(svc.callWithKwargs("hello", List.of(), Map.of("name", "java", "greeting", "hi"))))
                .isEqualTo("hi java");
        List<Long> seen = new CopyOnWriteArrayList<>();
        RpcFunction cb = RpcFunction.of("cb", inv -> {
            long i = inv.longArg("i");
            seen.add(i);
            return "java saw " + i;
        }).param("i");
        Object results = Await.result(svc.call("call_cb", cb, 4));
        assertThat(results).isEqualTo(List.of("java saw 0", "java saw 1", "java saw 2", "java saw 3"));
        assertThat(seen).containsExactly(0L, 1L, 2L, 3L);
    }

    @Test
    void callsAFunctionPythonReturnedAfterTheCallEnded() {
        RemoteService svc = pySvc();
        RemoteMethod adder = (RemoteMethod) Await.result(svc.call("make_adder", 10));
        assertThat(Await.result(adder.call(5))).isEqualTo(15L);
        assertThat(Await.result(adder.call(-10))).isEqualTo(0L);
    }

    @Test
    void pythonExceptionsArriveWithMessageAndTraceback() {
        Throwable err = Await.failure(pySvc().call("fail", "python says no"), Duration.ofSeconds(20));
        assertThat(err).isInstanceOf(RemoteException.class);
        RemoteException remote = (RemoteException) err;
        assertThat(remote.getMessage()).contains("python says no");
        assertThat(remote.remoteMessage() + remote.remoteTrace()).contains("ValueError").contains("Traceback");
    }

    @Test
    void heartbeatsKeepLongCallsAliveAndABlockedPeerTimesOut() {
        HyphaClient impatient = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setMethodTimeout(Duration.ofSeconds(3))
                .setClientId("java-impatient-" + HyphaClient.newId(6))));
        try {
            RemoteService svc = Await.result(impatient.getService(py.fullClientId() + ":py-svc"));
            long start = System.nanoTime();
            assertThat(Await.result(svc.call("slow", 10))).isEqualTo("slept");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThan(Duration.ofSeconds(9));

            start = System.nanoTime();
            Throwable err = Await.failure(svc.call("block", 10), Duration.ofSeconds(30));
            Duration failedAfter = Duration.ofNanos(System.nanoTime() - start);
            assertThat(err).isInstanceOf(HyphaException.Timeout.class).hasMessageContaining("timed out");
            assertThat(failedAfter).isBetween(Duration.ofMillis(2500), Duration.ofSeconds(8));
        } finally {
            Await.result(impatient.disconnect());
            // let the blocked Python loop recover before other tests use it
            py.exec("return 1", Duration.ofSeconds(30));
        }
    }

    @Test
    void fiveMegabytesTravelBothWays() {
        RemoteService svc = pySvc();
        byte[] blob = new byte[5_000_000];
        for (int i = 0; i < blob.length; i++) {
            blob[i] = (byte) (i * 7);
        }
        assertThat(Await.result(svc.call("size", (Object) blob))).isEqualTo(5_000_000L);
        byte[] back = (byte[]) Await.result(svc.call("big", 5_000_000));
        assertThat(back).hasSize(5_000_000);
        for (int i = 0; i < 251 * 3; i++) {
            assertThat(back[i]).isEqualTo((byte) (i % 251));
        }
    }

    @Test
    void selectsAmongSeveralProvidersByMode() {
        try (PythonPeer p1 = server.python(Map.of("token", server.userToken(), "client_id", "py-dup1-" + HyphaClient.newId(6)));
             PythonPeer p2 = server.python(Map.of("token", server.userToken(), "client_id", "py-dup2-" + HyphaClient.newId(6)))) {
            String svcName = "dup-svc-" + HyphaClient.newId(6).toLowerCase();
            for (PythonPeer p : List.of(p1, p2)) {
                String load = p == p1 ? "5" : "1";
                p.exec("""
                        await server.register_service({"id": "%s", "config": {"visibility": "protected"},
                            "whoami": lambda: server.config["client_id"], "load": lambda: %s})
                        """.formatted(svcName, load));
            }
            Throwable ambiguous = Await.failure(java.getService(svcName), Duration.ofSeconds(20));
            assertThat(ambiguous).hasMessageContaining("Multiple services found");

            Set<Object> reached = Collections.synchronizedSet(new HashSet<>());
            for (int i = 0; i < 50; i++) {
                RemoteService any = Await.result(java.getService(svcName, Map.of("mode", "random")));
                reached.add(Await.result(any.call("whoami")));
            }
            assertThat(reached).containsExactlyInAnyOrder(p1.clientId(), p2.clientId());

            RemoteService leastLoaded = Await.result(java.getService(svcName, Map.of("mode", "select:min:load")));
            assertThat(Await.result(leastLoaded.call("whoami"))).isEqualTo(p2.clientId());
        }
    }

    @Test
    void waitsForAServiceThatAppearsLaterAndTimesOutForOneThatNeverDoes() {
        String late = "late-svc-" + HyphaClient.newId(6).toLowerCase();
        long start = System.nanoTime();
        Future<Map<String, Object>> waiting = java.waitForService(late, Duration.ofSeconds(20));
        py.execAsync("""
                await asyncio.sleep(3)
                await server.register_service({"id": "%s", "ping": lambda: "pong"})
                state["late_registered_at"] = time.time()
                """.formatted(late));
        Map<String, Object> info = Await.result(waiting);
        long waitedMs = Duration.ofNanos(System.nanoTime() - start).toMillis();
        assertThat(String.valueOf(info.get("id"))).endsWith(":" + late);
        assertThat(waitedMs).isBetween(2500L, 4500L);
        double registeredAt = ((Number) py.exec("return state['late_registered_at']")).doubleValue();
        assertThat(System.currentTimeMillis() / 1000.0 - registeredAt).isLessThan(waitedMs / 1000.0);

        Throwable never = Await.failure(java.waitForService("never-" + late, Duration.ofSeconds(2)), Duration.ofSeconds(10));
        assertThat(never).isInstanceOf(HyphaException.Timeout.class).hasMessageContaining("not registered within 2 s");
    }

    @Test
    void receivesServiceAndClientEventsAndCustomBroadcastsOnlyWhenSubscribed() {
        List<Map<String, Object>> events = new CopyOnWriteArrayList<>();
        for (String type : List.of("service_added", "service_removed", "client_disconnected", "my-event")) {
            java.on(type, events::add);
        }
        Await.result(java.subscribe(List.of("service_added", "service_removed", "client_disconnected")));
        try (PythonPeer other = server.python(Map.of("token", server.userToken(), "client_id", "py-events-" + HyphaClient.newId(6)))) {
            other.exec("""
                    await server.emit({"type": "my-event", "to": "*", "data": {"n": 1}})
                    info = await server.register_service({"id": "evt-svc", "f": lambda: 1})
                    await server.unregister_service(info["id"])
                    """);
            Await.until("service_added and service_removed", Duration.ofSeconds(10), () ->
                    types(events, other.clientId()).containsAll(List.of("service_added", "service_removed")));
            assertThat(types(events, null)).doesNotContain("my-event");

            Await.result(java.subscribe(List.of("my-event")));
            other.exec("""
                    await server.emit({"type": "my-event", "to": "*", "data": {"n": 2}})
                    """);
            Await.until("my-event", Duration.ofSeconds(10), () -> types(events, null).contains("my-event"));
            other.exec("await server.disconnect()");
            Await.until("client_disconnected", Duration.ofSeconds(15), () ->
                    types(events, other.clientId()).contains("client_disconnected"));
            Map<String, Object> custom = events.stream().filter(e -> "my-event".equals(e.get("type"))).findFirst().orElseThrow();
            assertThat(custom.get("data")).isEqualTo(Map.of("n", 2L));
        }
    }

    private static List<String> types(List<Map<String, Object>> events, String mentioning) {
        List<String> out = new ArrayList<>();
        for (Map<String, Object> e : events) {
            if (mentioning == null || String.valueOf(e.get("data")).contains(mentioning)) {
                out.add(String.valueOf(e.get("type")));
            }
        }
        return out;
    }
}
