package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
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
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

/**
 * The rest of the full client against the real server: probes served over HTTP, each function's
 * {@code _rschema} as Python reads it, Python's pydantic models arriving as maps, and the login
 * flow through {@code public/hypha-login}.
 */
@Tag("hypha")
class ClientExtrasInteropTest {

    static Vertx vertx;
    static HyphaTestServer server;
    static HyphaClient java;
    static PythonPeer py;
    static final AtomicReference<Object> received = new AtomicReference<>();

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        server = HyphaTestServer.shared();
        java = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-extras-" + HyphaClient.newId(6))));
        Await.result(java.registerService(ServiceDefinition.builder("extras")
                .function(RpcFunction.of("add", inv -> inv.longArg("a") + ((Number) inv.arg("b")).longValue())
                        .param("a", "first number", "integer").optionalParam("b", 0L)
                        .description("Adds two numbers"))
                .function(RpcFunction.of("keep", inv -> {
                    received.set(inv.arg("value"));
                    return inv.arg("value");
                }).param("value", null, "object"))
                .build()));
        py = server.python(Map.of("token", server.userToken(), "client_id", "py-extras-" + HyphaClient.newId(6)));
        py.exec("state['svc'] = await server.get_service('%s:extras')".formatted(java.fullClientId()));
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
    void probesAreAnsweredOverHttpByTheJavaFunctions() throws Exception {
        AtomicInteger readinessCalls = new AtomicInteger();
        Await.result(java.registerProbes(Map.of(
                "readiness", RpcFunction.of("readiness", inv -> {
                    readinessCalls.incrementAndGet();
                    return Map.of("ready", true);
                }),
                "liveness", RpcFunction.of("liveness", inv -> "alive"))));
        HttpClient http = HttpClient.newHttpClient();
        for (String probe : List.of("readiness", "liveness")) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/" + java.workspace()
                    + "/services/" + java.clientId() + ":probes/" + probe)).timeout(Duration.ofSeconds(30)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(probe + ": " + r.body()).isEqualTo(200);
            if (probe.equals("readiness")) {
                assertThat(new JsonObject(r.body()).getBoolean("ready")).isTrue();
            } else {
                assertThat(r.body()).contains("alive");
            }
        }
        assertThat(readinessCalls.get()).isEqualTo(1);
        Map<String, Object> info = Await.result(java.getServiceInfo(java.fullClientId() + ":probes"));
        assertThat(info.get("type")).isEqualTo("probes");
    }

    @Test
    void pythonSeesEachJavaFunctionsSchemaFromItsDeclaredParameters() {
        JsonObject schema = (JsonObject) py.exec("return state['svc'].add.__schema__");
        assertThat(schema.getString("name")).isEqualTo("add");
        assertThat(schema.getString("description")).isEqualTo("Adds two numbers");
        JsonObject parameters = schema.getJsonObject("parameters");
        assertThat(parameters.getString("type")).isEqualTo("object");
        assertThat(parameters.getJsonObject("properties").getJsonObject("a").getMap())
                .containsEntry("type", "integer").containsEntry("description", "first number");
        assertThat(parameters.getJsonObject("properties").getJsonObject("b").getMap())
                .containsEntry("type", "integer").containsEntry("default", 0);
        assertThat(parameters.getJsonArray("required").getList()).containsExactly("a");
        assertThat(py.exec("return await state['svc'].add(2, b=3)")).isEqualTo(5);
    }

    @Test
    void aPydanticModelFromPythonArrivesAsAMapOfItsFields() {
        Object back = py.exec("""
                from pydantic import BaseModel
                class Point(BaseModel):
                    x: int
                    y: float
                    label: str = "p"
                return await state['svc'].keep(Point(x=1, y=2.5))
                """);
        assertThat(received.get()).isInstanceOf(Map.class);
        @SuppressWarnings("unchecked")
        Map<String, Object> fields = (Map<String, Object>) received.get();
        assertThat(fields).containsEntry("x", 1L).containsEntry("y", 2.5).containsEntry("label", "p")
                .doesNotContainKey("_rtype");
        assertThat(((JsonObject) back).getMap()).containsEntry("x", 1).containsEntry("y", 2.5).containsEntry("label", "p");
    }

    @Test
    void loginHandsTheLoginContextToTheCallbackAndCompletesWithTheTokenTheUserLoggedInWith() {
        AtomicReference<Map<String, Object>> shown = new AtomicReference<>();
        Future<String> token = HyphaClient.login(vertx, new LoginOptions().setServerUrl(server.url()).setTimeout(Duration.ofSeconds(60))
                .setLoginCallback(context -> {
                    shown.set(context);
                    // the browser's part: the login page reports the user's token for this key
                    py.execAsync("await (await server.get_service('public/hypha-login')).report(key='%s', token='%s')"
                            .formatted(context.get("key"), server.userToken()));
                    return Future.succeededFuture();
                }));
        assertThat(Await.result(token, Duration.ofSeconds(90))).isEqualTo(server.userToken());
        assertThat(String.valueOf(shown.get().get("login_url"))).contains("key=" + shown.get().get("key"));

        Future<Map<String, Object>> profile = HyphaClient.loginWithProfile(vertx, new LoginOptions().setServerUrl(server.url())
                .setLoginCallback(context -> {
                    py.execAsync("await (await server.get_service('public/hypha-login')).report(key='%s', token='%s', email='u@example.org')"
                            .formatted(context.get("key"), server.userToken()));
                    return Future.succeededFuture();
                }));
        Map<String, Object> user = Await.result(profile, Duration.ofSeconds(90));
        assertThat(user).containsEntry("token", server.userToken()).containsEntry("email", "u@example.org");
    }
}
