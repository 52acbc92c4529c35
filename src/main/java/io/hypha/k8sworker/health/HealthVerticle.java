package io.hypha.k8sworker.health;

import io.hypha.k8sworker.bus.Addresses;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.micrometer.backends.BackendRegistries;

/**
 * {@code /health/live} (the event loop answers), {@code /health/ready} (connected and registered in
 * Hypha, Kubernetes API reachable) and {@code /metrics} (Prometheus). It only listens to the status
 * the other verticles publish; it never reaches into them.
 */
public final class HealthVerticle extends VerticleBase {

    private final String host;
    private final int port;
    private boolean hyphaConnected;
    private boolean kubernetesReachable;
    private HttpServer server;

    public HealthVerticle(String host, int port) {
        this.host = host;
        this.port = port;
    }

    @Override
    public Future<?> start() {
        vertx.eventBus().<JsonObject>consumer(Addresses.HYPHA_STATUS, m -> hyphaConnected = m.body().getBoolean("connected", false));
        vertx.eventBus().<JsonObject>consumer(Addresses.KUBERNETES_STATUS, m -> kubernetesReachable = m.body().getBoolean("reachable", false));
        Router router = Router.router(vertx);
        router.get("/health/live").handler(rc -> rc.json(new JsonObject().put("status", "UP")));
        router.get("/health/ready").handler(rc -> {
            boolean ready = hyphaConnected && kubernetesReachable;
            rc.response().setStatusCode(ready ? 200 : 503);
            rc.json(new JsonObject().put("status", ready ? "UP" : "DOWN")
                    .put("checks", new JsonObject().put("hypha", hyphaConnected).put("kubernetes", kubernetesReachable)));
        });
        router.get("/metrics").handler(rc -> {
            PrometheusMeterRegistry registry = (PrometheusMeterRegistry) BackendRegistries.getDefaultNow();
            rc.response().putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
                    .end(registry == null ? "" : registry.scrape());
        });
        return vertx.createHttpServer().requestHandler(router).listen(port, host).onSuccess(s -> server = s);
    }

    /** The port actually bound (the configured one, or a free one for port 0). */
    public int actualPort() {
        return server.actualPort();
    }
}
