package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

/**
 * Peers dying, links dropping, the server restarting (interop plan items 6 and 30 to 35), on a
 * private server instance that these tests stop, kill and restart.
 */
@Tag("hypha")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ResilienceInteropTest {

    static final Map<String, String> SERVER_ENV = Map.of("HYPHA_WS_IDLE_TIMEOUT", "20");
    static Vertx vertx;
    static HyphaTestServer server;

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        server = HyphaTestServer.startPrivate("resilience", SERVER_ENV);
    }

    @AfterAll
    static void tearDown() {
        vertx.close();
        if (server != null) {
            server.stop();
        }
    }

    private static HyphaClient connect(String name, ConnectOptions extra) {
        // pings well inside the instance's 20 s idle timeout, unless a test turns them off
        return Await.result(HyphaClient.connect(vertx, extra.setServerUrl(server.url()).setToken(server.userToken())
                .setMaxReconnectDelay(Duration.ofSeconds(2)).setPingInterval(Duration.ofSeconds(5))
                .setClientId(name + "-" + HyphaClient.newId(6))), Duration.ofSeconds(60));
    }

    private static PythonPeer python(String name) {
        return server.python(Map.of("token", server.userToken(), "client_id", name + "-" + HyphaClient.newId(6)));
    }

    private static String registerEcho(HyphaClient client) {
        return Await.result(client.registerService(new JavaTestService().definition(vertx, "java-svc", Visibility.PROTECTED)));
    }

    @Test
    @Order(1)
    void callsToAKilledPeerFailFastAndItsDisconnectIsAnnounced() {
        HyphaClient java = connect("java-deadpeer", new ConnectOptions());
        List<Map<String, Object>> disconnects = new CopyOnWriteArrayList<>();
        java.on("client_disconnected", disconnects::add);
        Await.result(java.subscribe(List.of("client_disconnected")));
        PythonPeer py = python("py-doomed");
        try {
            py.exec("""
                    await server.register_service({"id": "doomed", "hello": lambda: "hi"})
                    """);
            RemoteService svc = Await.result(java.getService(py.fullClientId() + ":doomed"));
            assertThat(Await.result(svc.call("hello"))).isEqualTo("hi");
            py.kill();
            Await.until("client_disconnected for the killed peer", Duration.ofSeconds(20),
                    () -> disconnects.stream().anyMatch(e -> String.valueOf(e.get("data")).contains(py.clientId())));
            long start = System.nanoTime();
            Throwable err = Await.failure(svc.call("hello"), Duration.ofSeconds(40));
            assertThat(err).hasMessageContaining("is not connected");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        } finally {
            Await.result(java.disconnect());
        }
    }

    @Test
    @Order(2)
    void aDroppedLinkIsReestablishedWithTheSameIdAndServicesComeBack() {
        HyphaClient java = connect("java-drop", new ConnectOptions());
        String svcId = registerEcho(java);
        try (PythonPeer py = python("py-drop")) {
            py.exec("""
                    state["svc"] = await server.get_service("%s")
                    return await state["svc"].echo(1)
                    """.formatted(svcId));
            String before = java.fullClientId();
            java.dropConnection();
            Await.until("reconnected", Duration.ofSeconds(20), () -> java.state() == HyphaClient.ConnectionState.CONNECTED
                    && !py.exec("return [s['id'] for s in await server.list_services({'workspace': '%s'})]"
                    .formatted(java.workspace())).toString().isEmpty());
            assertThat(java.fullClientId()).isEqualTo(before);
            Object again = py.exec("""
                    for _ in range(50):
                        try:
                            return await state["svc"].echo("again")
                        except Exception:
                            await asyncio.sleep(0.2)
                    return await state["svc"].echo("again")
                    """);
            assertThat(again).isEqualTo("again");
        } finally {
            Await.result(java.disconnect());
        }
    }

    @Test
    @Order(3)
    void keepAlivePingsHoldAnIdleConnectionAndWithoutThemTheServerDropsIt() {
        HyphaClient pinging = connect("java-pings", new ConnectOptions());
        HyphaClient silent = connect("java-nopings", new ConnectOptions().setKeepAlive(false));
        List<HyphaClient.ConnectionState> pingingStates = new CopyOnWriteArrayList<>();
        List<HyphaClient.ConnectionState> silentStates = new CopyOnWriteArrayList<>();
        pinging.connectionStateHandler(pingingStates::add);
        silent.connectionStateHandler(silentStates::add);
        String svcId = registerEcho(pinging);
        try {
            // the server closes connections idle for 20 s, checking every 60 s
            Await.until("the silent client to be dropped and to come back", Duration.ofSeconds(100),
                    () -> silentStates.contains(HyphaClient.ConnectionState.RECONNECTING)
                            && silent.state() == HyphaClient.ConnectionState.CONNECTED);
            assertThat(pingingStates).doesNotContain(HyphaClient.ConnectionState.RECONNECTING);
            try (PythonPeer py = python("py-idle")) {
                assertThat(py.exec("return await (await server.get_service('%s')).echo('awake')".formatted(svcId)))
                        .isEqualTo("awake");
            }
        } finally {
            Await.result(pinging.disconnect());
            Await.result(silent.disconnect());
        }
    }

    @Test
    @Order(4)
    void afterTheServerIsKilledAndRestartedBothSidesReconnectAndCallEachOther() {
        HyphaClient java = connect("java-restart", new ConnectOptions().setMethodTimeout(Duration.ofSeconds(10)));
        List<Map<String, Object>> added = new CopyOnWriteArrayList<>();
        java.on("service_added", added::add);
        Await.result(java.subscribe(List.of("service_added")));
        String svcId = registerEcho(java);
        try (PythonPeer py = python("py-restart")) {
            py.exec("""
                    async def slow(s):
                        await asyncio.sleep(s)
                        return "slow done"
                    await server.register_service({"id": "py-back", "hello": lambda: "hello from python", "slow": slow})
                    """);
            String managerBefore = java.connectionInfo().managerId();
            RemoteService pySvc = Await.result(java.getService(py.fullClientId() + ":py-back"));
            Future<Object> inFlight = pySvc.call("slow", 4);

            server.kill();
            server.restart(SERVER_ENV);
            long restartedAt = System.nanoTime();

            Await.until("Java reconnected", Duration.ofSeconds(30), () -> java.state() == HyphaClient.ConnectionState.CONNECTED
                    && !java.connectionInfo().managerId().equals(managerBefore));
            // the Python client keeps the old manager id after a restart without --server-id, so it asks
            // Java's built-in service directly instead of going through the manager
            Object fromPython = py.exec("""
                    for _ in range(100):
                        try:
                            svc = await asyncio.wait_for(server.rpc.get_remote_service("%s"), 3)
                            return await svc.echo("after restart")
                        except Exception as e:
                            await asyncio.sleep(0.3)
                    """.formatted(svcId), Duration.ofSeconds(60));
            assertThat(fromPython).isEqualTo("after restart");
            assertThat(Duration.ofNanos(System.nanoTime() - restartedAt)).as("callable again after the restart")
                    .isLessThan(Duration.ofSeconds(10));
            Object outcome;
            try {
                outcome = Await.result(inFlight, Duration.ofSeconds(40));
            } catch (RuntimeException e) {
                outcome = e;
            }
            // it ends within its timeout, never hangs: completed after the reconnection, or failed
            assertThat(outcome).satisfiesAnyOf(o -> assertThat(o).isEqualTo("slow done"),
                    o -> assertThat(o).isInstanceOf(HyphaException.class));

            RemoteService again = Await.result(java.getService(py.fullClientId() + ":py-back"));
            assertThat(Await.result(again.call("hello"))).isEqualTo("hello from python");
            // the service_added subscription survived the restart
            try (PythonPeer late = python("py-after-restart")) {
                late.exec("await server.register_service({'id': 'py-after', 'f': lambda: 1})");
            }
            Await.until("service_added after the restart", Duration.ofSeconds(10),
                    () -> added.stream().anyMatch(e -> String.valueOf(e.get("data")).contains("py-after")));
        } finally {
            Await.result(java.disconnect());
        }
    }

    @Test
    @Order(5)
    void aGracefulServerShutdownIsFollowedByReconnection() {
        HyphaClient java = connect("java-sigterm", new ConnectOptions());
        String svcId = registerEcho(java);
        List<HyphaClient.ConnectionState> states = new CopyOnWriteArrayList<>();
        java.connectionStateHandler(states::add);
        try {
            server.stop();
            Await.until("Java notices the shutdown", Duration.ofSeconds(20), () -> states.contains(HyphaClient.ConnectionState.RECONNECTING));
            server.restart(SERVER_ENV);
            Await.until("Java reconnected", Duration.ofSeconds(40), () -> java.state() == HyphaClient.ConnectionState.CONNECTED);
            try (PythonPeer py = python("py-sigterm")) {
                assertThat(py.exec("return await (await server.get_service('%s')).echo('back')".formatted(svcId))).isEqualTo("back");
            }
        } finally {
            Await.result(java.disconnect());
        }
    }

    @Test
    @Order(6)
    void userDisconnectIsFinalAndTheServerForgetsOurServices() {
        HyphaClient java = connect("java-leaving", new ConnectOptions());
        String svcId = registerEcho(java);
        try (PythonPeer py = python("py-witness")) {
            py.exec("""
                    state["gone"] = []
                    await server.subscribe(["client_disconnected"])
                    server.on("client_disconnected", lambda e: state["gone"].append(str(e.get("data"))))
                    async def slow(s):
                        await asyncio.sleep(s)
                    await server.register_service({"id": "slow", "slow": slow})
                    """);
            RemoteService slow = Await.result(java.getService(py.fullClientId() + ":slow"));
            Future<Object> pending = slow.call("slow", 30);
            Await.result(java.disconnect());
            Throwable err = Await.failure(pending, Duration.ofSeconds(5));
            assertThat(err).isInstanceOf(HyphaException.ConnectionClosed.class);
            assertThat(java.state()).isEqualTo(HyphaClient.ConnectionState.CLOSED);
            Await.until("the server announcing the disconnect", Duration.ofSeconds(15),
                    () -> py.exec("return state['gone']").toString().contains(java.clientId()));
            Object ids = py.exec("return [s['id'] for s in await server.list_services({'workspace': '%s'})]".formatted(java.workspace()));
            assertThat(ids.toString()).doesNotContain(svcId);
            Throwable after = Await.failure(java.getService(svcId), Duration.ofSeconds(5));
            assertThat(after).isInstanceOf(HyphaException.ConnectionClosed.class);
        }
    }

    @Test
    @Order(7)
    void aRestartWithAnotherSecretIsReportedInsteadOfRetriedForever() {
        HyphaClient java = connect("java-secret", new ConnectOptions());
        try {
            server.restart(Map.of("HYPHA_WS_IDLE_TIMEOUT", "20", "HYPHA_JWT_SECRET", "another-secret-" + HyphaClient.newId(10)));
            Await.until("Java to give up", Duration.ofSeconds(60), () -> java.state() == HyphaClient.ConnectionState.CLOSED);
            assertThat(java.closeCause()).isInstanceOf(HyphaException.Refused.class);
            assertThat(java.closeCause().getMessage()).containsIgnoringCase("auth");
        } finally {
            server.restart(SERVER_ENV);
        }
    }
}
