package io.hypha.k8sworker.health;

import java.util.ArrayList;
import java.util.List;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.Health;
import io.hypha.k8sworker.bus.HealthOp;
import io.hypha.k8sworker.bus.WorkerException;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.healthchecks.HealthChecks;
import io.vertx.ext.healthchecks.Status;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.healthchecks.HealthCheckHandler;
import io.vertx.micrometer.backends.BackendRegistries;

/**
 * {@code /health/live}, {@code /health/ready} (Vert.x Health Checks) and {@code /metrics}
 * (Prometheus). Each procedure asks one component over the event bus ({@link HealthOp#CHECK} on the
 * address it serves), so it never reaches into them: ready when every component answers that it can
 * serve (the hypha-bridge connected and registered, the service-watcher's API server answering and
 * informers watching, the leader verticle, a launcher per job type); live unless a deployed component stops answering,
 * which only a restart mends. A component not deployed is not ready, but still alive: it may be
 * starting.
 */
public final class HealthVerticle extends VerticleBase {

    /** How long a component may take to answer: under the chart's probe timeout (3 s). */
    static final long ANSWER_TIMEOUT_MS = 2_000;

    /**
     * Vert.x's own limit on a procedure, which it would report as a failed procedure (500): later
     * than the bus timeout, so a silent component is reported DOWN (503) by the procedure itself.
     */
    private static final long PROCEDURE_TIMEOUT_MS = ANSWER_TIMEOUT_MS + 1_000;

    /** A component to ask: its procedure's id and the address it serves. */
    record Component(String id, String address) {
    }

    private final String host;
    private final int port;
    private final List<Component> components;
    private BusClient bus;
    private HttpServer server;

    /** Asks the hypha-bridge, the service-watcher, the leader verticle and the launcher of each of {@code jobTypes}. */
    public HealthVerticle(String host, int port, List<String> jobTypes) {
        this.host = host;
        this.port = port;
        List<Component> all = new ArrayList<>(List.of(new Component("hypha-bridge", Addresses.HYPHA),
                new Component("service-watcher", Addresses.SESSIONS), new Component("leader", Addresses.LEADER)));
        // a "/" groups the launchers under one check, one entry per job type
        jobTypes.forEach(type -> all.add(new Component("job-launcher/" + type, Addresses.jobType(type))));
        this.components = List.copyOf(all);
    }

    @Override
    public Future<?> start() {
        bus = new BusClient(vertx);
        HealthChecks live = HealthChecks.create(vertx);
        HealthChecks ready = HealthChecks.create(vertx);
        for (Component c : components) {
            live.register(c.id(), PROCEDURE_TIMEOUT_MS, p -> ask(c).onComplete(ar -> p.complete(liveness(ar.failed() ? ar.cause() : null))));
            ready.register(c.id(), PROCEDURE_TIMEOUT_MS, p -> ask(c).onComplete(ar -> p.complete(ar.succeeded() ? readiness(ar.result())
                    : Status.KO(reason(ar.cause())))));
        }
        Router router = Router.router(vertx);
        router.get("/health/live").handler(HealthCheckHandler.createWithHealthChecks(live));
        router.get("/health/ready").handler(HealthCheckHandler.createWithHealthChecks(ready));
        router.get("/metrics").handler(rc -> {
            PrometheusMeterRegistry registry = (PrometheusMeterRegistry) BackendRegistries.getDefaultNow();
            rc.response().putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
                    .end(registry == null ? "" : registry.scrape());
        });
        return vertx.createHttpServer().requestHandler(router).listen(port, host).onSuccess(s -> server = s);
    }

    private Future<Health> ask(Component c) {
        return bus.<JsonObject>request(c.address(), HealthOp.CHECK, new JsonObject(), ANSWER_TIMEOUT_MS).map(Health::fromJson);
    }

    private static Status readiness(Health health) {
        return health.details().isEmpty() ? new Status().setOk(health.up()) : new Status().setOk(health.up()).setData(health.details());
    }

    /**
     * Alive unless it is deployed and does not answer in time: any answer, even a failure, shows its
     * event loop runs, and a component not deployed (yet) is no stuck loop a restart would mend.
     */
    private static Status liveness(Throwable failure) {
        if (failure == null) {
            return Status.OK();
        }
        WorkerException e = WorkerException.from(failure);
        return e.code() == ErrorCode.TIMEOUT ? Status.KO(reason(e)) : Status.OK(reason(e));
    }

    private static JsonObject reason(Throwable failure) {
        WorkerException e = WorkerException.from(failure);
        return new JsonObject().put("reason", switch (e.code()) {
            case UNAVAILABLE -> "not deployed";
            case TIMEOUT -> "no answer within " + ANSWER_TIMEOUT_MS + " ms";
            default -> e.getMessage();
        });
    }

    /** The port actually bound (the configured one, or a free one for port 0). */
    public int actualPort() {
        return server.actualPort();
    }
}
