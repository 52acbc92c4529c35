package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
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
import io.hypha.testing.PythonPeer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

/**
 * Hypha disconnects a client that sends more messages per second than its limit, and a service's
 * replies are as many as its callers' calls: callers flooding a service must not get it thrown
 * out. On a private server instance with a low limit (20 per second, bursts of 40), so that a flood
 * a test can make crosses it.
 */
@Tag("hypha")
class SendPacingInteropTest {

    static Vertx vertx;
    static HyphaTestServer server;

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        server = HyphaTestServer.startPrivate("pacing", Map.of("HYPHA_WS_MSG_RATE_LIMIT", "20", "HYPHA_WS_MSG_BURST_LIMIT", "40"));
    }

    @AfterAll
    static void tearDown() {
        vertx.close();
        if (server != null) {
            server.stop();
        }
    }

    /** Connection states the client went through while callers flooded it, and the flood's outcome. */
    private record Flood(List<HyphaClient.ConnectionState> states, JsonObject calls) {
    }

    private static Flood flood(ConnectOptions sendRate) {
        List<HyphaClient.ConnectionState> states = new CopyOnWriteArrayList<>();
        HyphaClient java = Await.result(HyphaClient.connect(vertx, sendRate.setServerUrl(server.url()).setToken(server.userToken())
                .setMaxReconnectDelay(Duration.ofSeconds(2)).setClientId("java-flooded-" + HyphaClient.newId(6))), Duration.ofSeconds(60));
        java.connectionStateHandler(states::add);
        String svcId = Await.result(java.registerService(ServiceDefinition.builder("flooded").visibility(Visibility.PUBLIC)
                .function(RpcFunction.of("echo", inv -> inv.arg("x")).param("x")).build()));
        // two callers of another workspace, each well inside the server's limit on its own sends only
        // while it waits for replies: together they ask for more replies per second than the limit
        try (PythonPeer a = server.python(Map.of("client_id", "py-flood-a-" + HyphaClient.newId(6)));
             PythonPeer b = server.python(Map.of("client_id", "py-flood-b-" + HyphaClient.newId(6)))) {
            String script = """
                    import time
                    svc = await server.get_service("%s")
                    counts = {"ok": 0, "failed": 0}
                    end = time.monotonic() + 5
                    async def caller():
                        while time.monotonic() < end:
                            try:
                                await svc.echo(1)
                                counts["ok"] += 1
                            except Exception:
                                counts["failed"] += 1
                            await asyncio.sleep(0.25)
                    await asyncio.gather(*[caller() for _ in range(4)])
                    return counts
                    """.formatted(svcId);
            var fa = a.execAsync(script);
            var fb = b.execAsync(script);
            JsonObject ca = (JsonObject) fa.get(60, TimeUnit.SECONDS);
            JsonObject cb = (JsonObject) fb.get(60, TimeUnit.SECONDS);
            JsonObject calls = new JsonObject().put("ok", ca.getInteger("ok") + cb.getInteger("ok"))
                    .put("failed", ca.getInteger("failed") + cb.getInteger("failed"));
            return new Flood(List.copyOf(states), calls);
        } catch (Exception e) {
            throw new AssertionError(e);
        } finally {
            Await.result(java.disconnect());
        }
    }

    @Test
    void aServiceWhoseRepliesArePacedBelowTheServersLimitStaysConnectedAndAnswersEveryCall() {
        Flood paced = flood(new ConnectOptions().setSendRate(15, 20, 10_000));
        assertThat(paced.states()).doesNotContain(HyphaClient.ConnectionState.RECONNECTING, HyphaClient.ConnectionState.CLOSED);
        assertThat(paced.calls().getInteger("failed")).isZero();
        // more replies than the server's burst went out, so an unpaced client would have crossed it
        assertThat(paced.calls().getInteger("ok")).isGreaterThan(40);
    }

    @Test
    void withoutPacingTheSameFloodHasTheServerThrowTheServiceOut() {
        Flood unpaced = flood(new ConnectOptions().setSendRate(100_000, 100_000, 10_000));
        assertThat(unpaced.states()).contains(HyphaClient.ConnectionState.RECONNECTING);
    }
}
