package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.vertx.core.Vertx;

/**
 * A reply larger than the client holds at once from one sender: the call fails with that reason
 * as soon as the cache refuses a chunk, rather than waiting out its timeout, and the client goes on.
 */
@Tag("hypha")
class LargeReplyLimitInteropTest {

    static Vertx vertx;
    static HyphaClient java;
    static PythonPeer py;

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        HyphaTestServer server = HyphaTestServer.shared();
        java = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-small-cache-" + HyphaClient.newId(6))
                .setMaxCachedBytesPerSender(1_000_000).setMethodTimeout(Duration.ofMinutes(5))));
        py = server.python(Map.of("token", server.userToken(), "client_id", "py-big-" + HyphaClient.newId(6)));
        py.exec("""
                await server.register_service({"id": "big", "config": {"visibility": "protected"},
                    "make": lambda n: bytes(n)})
                """);
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

    @Test
    void aReplyOverThePerSenderCeilingFailsTheCallWithTheReasonAndTheClientGoesOn() {
        RemoteService big = Await.result(java.getService(py.fullClientId() + ":big"));
        Throwable err = Await.failure(big.call("make", 3_000_000), Duration.ofSeconds(120));
        assertThat(err).isNotInstanceOf(HyphaException.Timeout.class)
                .hasMessageContaining("could not be received").hasMessageContaining("maxCachedBytesPerSender");
        assertThat((byte[]) Await.result(big.call("make", 500_000))).hasSize(500_000);
    }
}
