package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketConnectOptions;

/** Handshake, login, keep-alive and token refresh against the real server (interop plan items 1 to 7). */
@Tag("hypha")
class ConnectionInteropTest {

    static Vertx vertx;
    static HyphaTestServer server;

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        server = HyphaTestServer.shared();
    }

    @AfterAll
    static void tearDown() {
        vertx.close();
    }

    private static ConnectOptions options() {
        return new ConnectOptions().setServerUrl(server.url());
    }

    @Test
    void anonymousLoginGetsItsOwnWorkspaceAndAnswersPings() {
        HyphaClient anon = Await.result(HyphaClient.connect(vertx, options().setClientId("java-anon-" + HyphaClient.newId(6))));
        try {
            ConnectionInfo info = anon.connectionInfo();
            assertThat(info.workspace()).startsWith("ws-user-anonymouz-");
            assertThat(info.managerId()).startsWith("manager-");
            assertThat(info.hyphaVersion()).isNotBlank();
            assertThat(info.publicBaseUrl()).startsWith("http");
            assertThat(info.reconnectionToken()).isNotBlank();
            assertThat(info.reconnectionTokenLifeTime()).isPositive();
            assertThat(info.userId()).startsWith("anonymouz-");
            assertThat(info.user()).containsEntry("is_anonymous", true);

            String token = Await.result(anon.generateToken(Map.of("permission", "read_write", "expires_in", 600)));
            try (PythonPeer py = server.python(Map.of("workspace", anon.workspace(), "token", token,
                    "client_id", "py-anon-" + HyphaClient.newId(6)))) {
                assertThat(py.exec("return await server.ping('%s')".formatted(anon.fullClientId()))).isEqualTo("pong");
            }
        } finally {
            Await.result(anon.disconnect());
        }
    }

    @Test
    void tokenLoginJoinsTheNamedWorkspaceAndAWrongOneIsRefusedWithTheServersReason() {
        HyphaClient user = Await.result(HyphaClient.connect(vertx, options().setToken(server.userToken())
                .setWorkspace(server.userWorkspace()).setClientId("java-user-" + HyphaClient.newId(6))));
        try {
            assertThat(user.workspace()).isEqualTo(server.userWorkspace());
            assertThat(user.connectionInfo().userId()).isEqualTo("k8s-worker-test");
        } finally {
            Await.result(user.disconnect());
        }
        Throwable refused = Await.failure(HyphaClient.connect(vertx, options().setToken(server.userToken())
                .setWorkspace("ws-user-someone-else").setClientId("java-wrong-ws")), Duration.ofSeconds(30));
        assertThat(refused).isInstanceOf(HyphaException.Refused.class);
        assertThat(refused.getMessage()).containsAnyOf("ws-user-someone-else", "Permission", "permission", "workspace");
    }

    @Test
    void aGarbageTokenIsRefusedAtOnceWithoutRetrying() {
        long start = System.nanoTime();
        Throwable refused = Await.failure(HyphaClient.connect(vertx, options().setToken("not-a-jwt.at.all")
                .setClientId("java-garbage")), Duration.ofSeconds(30));
        assertThat(refused).isInstanceOf(HyphaException.Refused.class);
        assertThat(refused.getMessage()).containsIgnoringCase("auth");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
    }

    @Test
    void aSecondClientWithALiveClientsIdIsRefusedAndTheIdIsFreeAfterTheFirstDies() {
        String id = "java-dup-" + HyphaClient.newId(6);
        HyphaClient first = Await.result(HyphaClient.connect(vertx, options().setToken(server.userToken())
                .setClientId(id).setReconnect(false)));
        Throwable refused = Await.failure(HyphaClient.connect(vertx, options().setToken(server.userToken()).setClientId(id)),
                Duration.ofSeconds(40));
        assertThat(refused).isInstanceOf(HyphaException.Refused.class).hasMessageContaining("Client already exists and is active");

        first.dropConnection();
        Await.until("the first client to notice", Duration.ofSeconds(10), () -> first.state() == HyphaClient.ConnectionState.CLOSED);
        HyphaClient second = Await.result(HyphaClient.connect(vertx, options().setToken(server.userToken()).setClientId(id)),
                Duration.ofSeconds(60));
        try {
            assertThat(second.fullClientId()).isEqualTo(first.fullClientId());
        } finally {
            Await.result(second.disconnect());
        }
    }

    @Test
    void queryParametersAreRefusedByTheClientAndByTheServer() {
        assertThatThrownBy(() -> new ConnectOptions().setServerUrl(server.url() + "/ws?client_id=x").webSocketUrl())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("query");

        String hostPort = server.url().replaceFirst("^http://", "");
        WebSocketClient raw = vertx.createWebSocketClient();
        Promise<Short> closed = Promise.promise();
        String[] parts = hostPort.split(":");
        raw.connect(new WebSocketConnectOptions().setHost(parts[0]).setPort(Integer.parseInt(parts[1]))
                        .setURI("/ws?client_id=legacy&workspace=public"))
                .onSuccess(ws -> ws.closeHandler(v -> closed.tryComplete(ws.closeStatusCode())))
                .onFailure(closed::tryFail);
        assertThat(Await.result(closed.future(), Duration.ofSeconds(20))).isEqualTo((short) 1008);
    }

    @Test
    void tokenRefreshKeepsTheNewestReconnectionTokenAndReconnectsWithIt() {
        HyphaClient client = Await.result(HyphaClient.connect(vertx, options().setToken(server.userToken())
                .setTokenRefreshInterval(Duration.ofSeconds(1)).setClientId("java-refresh-" + HyphaClient.newId(6))));
        try {
            String first = client.reconnectionToken();
            Await.until("a refreshed reconnection token", Duration.ofSeconds(10), () -> !first.equals(client.reconnectionToken()));
            List<HyphaClient.ConnectionState> states = new CopyOnWriteArrayList<>();
            client.connectionStateHandler(states::add);
            Await.result(client.registerService(ServiceDefinition.builder("refresh-svc")
                    .function(RpcFunction.of("hi", inv -> "hi")).build()));
            client.dropConnection();
            Await.until("reconnected", Duration.ofSeconds(20), () -> states.contains(HyphaClient.ConnectionState.RECONNECTING)
                    && client.state() == HyphaClient.ConnectionState.CONNECTED);
            RemoteService svc = Await.result(client.getService(client.fullClientId() + ":refresh-svc"));
            assertThat(Await.result(svc.call("hi"))).isEqualTo("hi");
        } finally {
            Await.result(client.disconnect());
        }
    }
}
