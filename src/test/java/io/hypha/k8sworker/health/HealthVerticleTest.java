package io.hypha.k8sworker.health;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.Health;
import io.hypha.k8sworker.bus.HealthOp;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;

/**
 * The health verticle in process, with fake components on the event bus in place of the
 * hypha-bridge, the service-watcher, the leader verticle and a job launcher: what {@code /health/live} and
 * {@code /health/ready} answer, over HTTP, when they answer up, down, not at all, or are not deployed.
 */
@ExtendWith(VertxExtension.class)
class HealthVerticleTest {

    private static final String JOB_TYPE = "k8s-job";

    private int port;

    @BeforeEach
    void deploy(Vertx vertx, VertxTestContext ctx) {
        HealthVerticle health = new HealthVerticle("127.0.0.1", 0, List.of(JOB_TYPE));
        vertx.deployVerticle(health).onComplete(ctx.succeeding(id -> {
            port = health.actualPort();
            ctx.completeNow();
        }));
    }

    /** A component that answers the health operation with {@code up} and {@code details}. */
    private static Future<Void> component(Vertx vertx, String address, boolean up, JsonObject details) {
        return vertx.eventBus().consumer(address, new OperationHandlers().on(HealthOp.CHECK, body -> Health.answer(up, details)))
                .completion();
    }

    /** A component whose event loop no longer answers: the request is taken and never replied to. */
    private static Future<Void> silentComponent(Vertx vertx, String address) {
        return vertx.eventBus().consumer(address, new OperationHandlers().on(HealthOp.CHECK, body -> Promise.promise().future()))
                .completion();
    }

    private static Future<Void> healthyLauncher(Vertx vertx) {
        return component(vertx, Addresses.jobType(JOB_TYPE), true, null);
    }

    private static Future<Void> healthyWatcher(Vertx vertx) {
        return component(vertx, Addresses.SESSIONS, true, new JsonObject().put("apiServer", true).put("watching", true));
    }

    private static Future<Void> leader(Vertx vertx) {
        return component(vertx, Addresses.LEADER, true, new JsonObject().put("leading", true).put("leader", "worker-0"));
    }

    private static Future<Void> connectedBridge(Vertx vertx) {
        return component(vertx, Addresses.HYPHA, true, new JsonObject().put("connected", true));
    }

    record Answer(int status, JsonObject body) {
        /** The check of one component, by its id ("job-launcher/k8s-job" is a check nested in "job-launcher"). */
        JsonObject check(String id) {
            JsonArray checks = body.getJsonArray("checks");
            String[] path = id.split("/");
            JsonObject found = null;
            for (String part : path) {
                found = null;
                for (int i = 0; i < checks.size(); i++) {
                    if (part.equals(checks.getJsonObject(i).getString("id"))) {
                        found = checks.getJsonObject(i);
                    }
                }
                assertThat(found).as("check " + id + " in " + body).isNotNull();
                checks = found.getJsonArray("checks", new JsonArray());
            }
            return found;
        }
    }

    private Future<Answer> get(Vertx vertx, String path) {
        return vertx.createHttpClient().request(HttpMethod.GET, port, "127.0.0.1", path)
                .compose(request -> request.send())
                .compose(response -> response.body().map(body -> new Answer(response.statusCode(), body.toJsonObject())));
    }

    @Test
    void readyAndAliveWhenEveryComponentAnswersUp(Vertx vertx, VertxTestContext ctx) {
        Future.all(leader(vertx), connectedBridge(vertx), healthyWatcher(vertx), healthyLauncher(vertx))
                .compose(x -> Future.all(get(vertx, "/health/ready"), get(vertx, "/health/live")))
                .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
                    Answer ready = both.resultAt(0);
                    assertThat(ready.status()).isEqualTo(200);
                    assertThat(ready.body().getString("status")).isEqualTo("UP");
                    assertThat(ready.body().getString("outcome")).isEqualTo("UP");
                    assertThat(ready.check("hypha-bridge").getString("status")).isEqualTo("UP");
                    assertThat(ready.check("hypha-bridge").getJsonObject("data")).isEqualTo(new JsonObject().put("connected", true));
                    assertThat(ready.check("service-watcher").getJsonObject("data"))
                            .isEqualTo(new JsonObject().put("apiServer", true).put("watching", true));
                    assertThat(ready.check("job-launcher/" + JOB_TYPE).getString("status")).isEqualTo("UP");
                    assertThat(ready.check("leader").getJsonObject("data"))
                            .isEqualTo(new JsonObject().put("leading", true).put("leader", "worker-0"));
                    Answer live = both.resultAt(1);
                    assertThat(live.status()).isEqualTo(200);
                    assertThat(live.body().getString("status")).isEqualTo("UP");
                    ctx.completeNow();
                })));
    }

    @Test
    void aComponentThatIsDownMakesTheWorkerNotReadyButAlive(Vertx vertx, VertxTestContext ctx) {
        Future<Void> disconnectedBridge = component(vertx, Addresses.HYPHA, false, new JsonObject().put("connected", false));
        Future.all(leader(vertx), disconnectedBridge, healthyWatcher(vertx), healthyLauncher(vertx))
                .compose(x -> Future.all(get(vertx, "/health/ready"), get(vertx, "/health/live")))
                .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
                    Answer ready = both.resultAt(0);
                    assertThat(ready.status()).isEqualTo(503);
                    assertThat(ready.body().getString("status")).isEqualTo("DOWN");
                    assertThat(ready.check("hypha-bridge").getString("status")).isEqualTo("DOWN");
                    assertThat(ready.check("hypha-bridge").getJsonObject("data")).isEqualTo(new JsonObject().put("connected", false));
                    assertThat(ready.check("service-watcher").getString("status")).isEqualTo("UP");
                    Answer live = both.resultAt(1);
                    assertThat(live.status()).isEqualTo(200);
                    ctx.completeNow();
                })));
    }

    @Test
    void aComponentNotDeployedIsNotReadyButStillAlive(Vertx vertx, VertxTestContext ctx) {
        // no service-watcher: it may still be starting
        Future.all(leader(vertx), connectedBridge(vertx), healthyLauncher(vertx))
                .compose(x -> Future.all(get(vertx, "/health/ready"), get(vertx, "/health/live")))
                .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
                    Answer ready = both.resultAt(0);
                    assertThat(ready.status()).isEqualTo(503);
                    assertThat(ready.check("service-watcher").getString("status")).isEqualTo("DOWN");
                    assertThat(ready.check("service-watcher").getJsonObject("data")).isEqualTo(new JsonObject().put("reason", "not deployed"));
                    assertThat(ready.check("hypha-bridge").getString("status")).isEqualTo("UP");
                    Answer live = both.resultAt(1);
                    assertThat(live.status()).isEqualTo(200);
                    assertThat(live.check("service-watcher").getString("status")).isEqualTo("UP");
                    ctx.completeNow();
                })));
    }

    @Test
    void aMissingJobLauncherIsNotReady(Vertx vertx, VertxTestContext ctx) {
        Future.all(leader(vertx), connectedBridge(vertx), healthyWatcher(vertx))
                .compose(x -> get(vertx, "/health/ready"))
                .onComplete(ctx.succeeding(ready -> ctx.verify(() -> {
                    assertThat(ready.status()).isEqualTo(503);
                    assertThat(ready.check("job-launcher").getString("status")).isEqualTo("DOWN");
                    assertThat(ready.check("job-launcher/" + JOB_TYPE).getJsonObject("data"))
                            .isEqualTo(new JsonObject().put("reason", "not deployed"));
                    ctx.completeNow();
                })));
    }

    @Test
    void aComponentWithoutTheHealthOperationIsNotReadyButAlive(Vertx vertx, VertxTestContext ctx) {
        Future<Void> withoutHealth = vertx.eventBus().consumer(Addresses.SESSIONS, new OperationHandlers()).completion();
        Future.all(leader(vertx), connectedBridge(vertx), healthyLauncher(vertx), withoutHealth)
                .compose(x -> Future.all(get(vertx, "/health/ready"), get(vertx, "/health/live")))
                .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
                    Answer ready = both.resultAt(0);
                    assertThat(ready.status()).isEqualTo(503);
                    assertThat(ready.check("service-watcher").getJsonObject("data"))
                            .isEqualTo(new JsonObject().put("reason", "unknown operation health"));
                    Answer live = both.resultAt(1);
                    assertThat(live.status()).isEqualTo(200);
                    ctx.completeNow();
                })));
    }

    @Test
    void aComponentThatStopsAnsweringIsDownInBoundedTimeAndNotAlive(Vertx vertx, VertxTestContext ctx) {
        Future.all(leader(vertx), connectedBridge(vertx), silentComponent(vertx, Addresses.SESSIONS), healthyLauncher(vertx))
                .compose(x -> Future.all(get(vertx, "/health/ready"), get(vertx, "/health/live")))
                .onComplete(ctx.succeeding(both -> ctx.verify(() -> {
                    Answer ready = both.resultAt(0);
                    // 503, not Vert.x's 500 for a procedure that failed: the procedure itself reports the silence
                    assertThat(ready.status()).isEqualTo(503);
                    assertThat(ready.check("service-watcher").getJsonObject("data"))
                            .isEqualTo(new JsonObject().put("reason", "no answer within " + HealthVerticle.ANSWER_TIMEOUT_MS + " ms"));
                    Answer live = both.resultAt(1);
                    assertThat(live.status()).isEqualTo(503);
                    assertThat(live.body().getString("status")).isEqualTo("DOWN");
                    assertThat(live.check("service-watcher").getString("status")).isEqualTo("DOWN");
                    assertThat(live.check("hypha-bridge").getString("status")).isEqualTo("UP");
                    ctx.completeNow();
                })));
    }

    @Test
    void metricsStay(Vertx vertx, VertxTestContext ctx) {
        vertx.createHttpClient().request(HttpMethod.GET, port, "127.0.0.1", "/metrics")
                .compose(request -> request.send())
                .onComplete(ctx.succeeding(response -> ctx.verify(() -> {
                    assertThat(response.statusCode()).isEqualTo(200);
                    assertThat(response.getHeader("content-type")).startsWith("text/plain");
                    ctx.completeNow();
                })));
    }
}
