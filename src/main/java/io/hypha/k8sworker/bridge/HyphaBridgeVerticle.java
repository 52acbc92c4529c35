package io.hypha.k8sworker.bridge;

import java.time.Duration;
import java.util.List;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.hypha.k8sworker.bridge.ports.PortPublisher;
import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.Health;
import io.hypha.k8sworker.bus.HealthOp;
import io.hypha.k8sworker.bus.HyphaOp;
import io.hypha.k8sworker.bus.Leadership;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.bus.ServiceWait;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.rpc.ConnectOptions;
import io.hypha.rpc.HyphaClient;
import io.hypha.rpc.HyphaException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;

/**
 * Owns the Hypha connection: connects (and connects again), registers the {@link WorkerService},
 * tells the health checks whether it is connected, and answers the other verticles' Hypha questions over the bus.
 * The service's calls become event-bus requests; failures reach callers as {@code WorkerException}s.
 */
public final class HyphaBridgeVerticle extends VerticleBase {

    private static final Logger LOG = LoggerFactory.getLogger(HyphaBridgeVerticle.class);

    private final WorkerConfig config;
    private final JobTypeNames jobTypes;
    /**
     * Longest wait between two attempts to reach Hypha, in the client's reconnection and in the
     * bridge's own retries: after an outage the worker is back within this much of the server.
     */
    static final Duration MAX_RECONNECT_DELAY = Duration.ofSeconds(10);

    private final StartMetrics metrics = new StartMetrics();
    private volatile HyphaClient client;
    /** This replica holds the Lease (always, with leader election off). */
    private boolean leading;
    private boolean leaderServiceRegistered;
    private boolean leaderServiceChanging;
    private WorkerService service;
    private MessageConsumer<JsonObject> consumer;
    private BusClient bus;
    private PortPublisher ports;
    private boolean stopping;

    public HyphaBridgeVerticle(WorkerConfig config, List<String> jobTypes) {
        this.config = config;
        this.jobTypes = new JobTypeNames(jobTypes);
    }

    @Override
    public Future<?> start() {
        bus = new BusClient(vertx);
        Callers callers = new Callers(config.callers(), () -> client);
        service = new WorkerService(config, bus, callers, jobTypes, new StartCall(vertx, config, bus, callers, jobTypes, metrics));
        consumer = vertx.eventBus().consumer(Addresses.HYPHA, new OperationHandlers()
                .on(HyphaOp.AWAIT_SERVICE, body -> awaitService(ServiceWait.fromJson(body)))
                .on(HealthOp.CHECK, body -> Health.answer(connected(), new JsonObject().put("connected", connected()))));
        ports = new PortPublisher(vertx, config);
        return consumer.completion()
                .compose(v -> ports.start())
                // no leader verticle deployed: one process, which leads
                .compose(v -> bus.followLeadership(new Leadership(!config.replicas().leaderElection(), null), now -> {
                    leading = now.leading();
                    syncLeaderService();
                    ports.leading(leading);
                }))
                .compose(v -> connect(1));
    }

    /**
     * With several replicas, only the leader holds {@code hypha.serviceId}, so that the README's
     * {@code get_service("<ws>/k8s-worker")} finds exactly one; every replica holds the replica id.
     * Called whenever the leadership or the connection changes.
     */
    private void syncLeaderService() {
        HyphaClient c = client;
        if (c == null || stopping || !config.replicas().leaderElection() || leaderServiceChanging) {
            return;
        }
        String id = config.hypha().serviceId();
        if (leading && !leaderServiceRegistered) {
            leaderServiceChanging = true;
            c.registerService(service.definition(id)).onComplete(ar -> {
                leaderServiceChanging = false;
                if (ar.succeeded()) {
                    leaderServiceRegistered = true;
                    LOG.info("this replica leads: registered {} as {}", id, ar.result());
                } else {
                    LOG.warn("could not register {} as the leader: {}; trying again", id, ar.cause().getMessage());
                    vertx.setTimer(config.replicas().retryPeriodSeconds() * 1000L, t -> syncLeaderService());
                    return;
                }
                syncLeaderService();
            });
        } else if (!leading && leaderServiceRegistered) {
            leaderServiceChanging = true;
            c.unregisterService(id).onComplete(ar -> {
                leaderServiceChanging = false;
                leaderServiceRegistered = false;
                LOG.info("this replica no longer leads: unregistered {}", id);
                syncLeaderService();
            });
        }
    }

    /**
     * Connects and registers the worker service. An unreachable server is retried with backoff (the
     * worker stays up, not ready, meanwhile); a refusal at the first attempt, such as a bad token,
     * fails the start-up, while one after the worker once reached the server is retried too, as
     * only a change outside the worker can fix it.
     */
    private Future<Void> connect(int attempt) {
        WorkerConfig.Hypha h = config.hypha();
        ConnectOptions options = new ConnectOptions()
                .setServerUrl(h.serverUrl())
                .setToken(blankToNull(h.token()))
                .setWorkspace(blankToNull(h.workspace()))
                .setClientId(blankToNull(h.clientId()))
                .setMethodTimeout(Duration.ofSeconds(h.methodTimeoutSeconds()))
                .setMaxReconnectDelay(MAX_RECONNECT_DELAY)
                .setSendRate(h.sendRatePerSecond(), h.sendBurst(), 10_000)
                // the worker never calls its own services: a call from itself can only be a caller's trick
                .setServeOwnCalls(false);
        Promise<Void> done = Promise.promise();
        HyphaClient.connect(vertx, options).onComplete(connected -> {
            if (connected.failed()) {
                if (attempt == 1 && !(connected.cause() instanceof HyphaException.Refused)) {
                    // an unreachable server is waited for; the worker stays up and not ready meanwhile
                    LOG.warn("cannot reach Hypha at {} ({}); retrying in the background", h.serverUrl(), connected.cause().getMessage());
                    done.complete();
                    retry(2);
                } else {
                    done.fail(connected.cause());
                }
                return;
            }
            HyphaClient c = connected.result();
            // one process: the service id itself; several replicas: each its replica id, the leader the service id too
            String firstId = config.replicas().leaderElection() ? config.replicas().replicaServiceId() : h.serviceId();
            c.registerService(service.definition(firstId)).onComplete(registered -> {
                if (registered.failed()) {
                    // a refused registration (bad settings, missing permission) will not fix itself
                    c.disconnect();
                    done.fail(new IllegalStateException("Hypha refused to register the worker service: "
                            + registered.cause().getMessage(), registered.cause()));
                    return;
                }
                client = c;
                leaderServiceRegistered = false;
                ports.connected(c);
                c.connectionStateHandler(state -> {
                    if (state == HyphaClient.ConnectionState.CLOSED && !stopping && client == c) {
                        // the client gave up (e.g. the server refused its reconnection): start over with
                        // a new connection rather than stay unregistered until someone restarts the worker
                        LOG.warn("the connection to Hypha ended ({}); connecting again", c.closeCause() == null ? "closed"
                                : c.closeCause().getMessage());
                        client = null;
                        retry(2);
                    }
                });
                LOG.info("registered {} (job types {}) as {}", firstId, jobTypes.names(), registered.result());
                syncLeaderService();
                done.complete();
            });
        });
        return done.future();
    }

    private void retry(int attempt) {
        long delayMs = Math.min(MAX_RECONNECT_DELAY.toMillis(), 1000L << Math.min(5, attempt - 2));
        vertx.setTimer(delayMs, t -> {
            if (stopping) {
                return;
            }
            connect(attempt).onFailure(err -> {
                // a refusal after the worker once ran (a rotated token, a server still loading the
                // workspace) may yet be fixed from outside: keep trying, not ready, rather than idle
                // unregistered until someone restarts the pod
                if (err instanceof HyphaException.Refused || err instanceof IllegalStateException) {
                    LOG.error("Hypha refused the worker: {}; trying again", err.getMessage());
                } else {
                    LOG.warn("still cannot reach Hypha: {}", err.getMessage());
                }
                retry(attempt + 1);
            });
        });
    }

    @Override
    public Future<?> stop() {
        stopping = true;
        if (client == null) {
            return ports.stop().compose(v -> consumer.unregister());
        }
        // unregister first so that Hypha stops routing calls here; the Jobs keep running
        HyphaClient c = client;
        Future<Void> replica = config.replicas().leaderElection()
                ? c.unregisterService(config.replicas().replicaServiceId()).otherwiseEmpty() : Future.succeededFuture();
        return ports.stop().compose(v -> replica)
                .compose(v -> !config.replicas().leaderElection() || leaderServiceRegistered
                        ? c.unregisterService(config.hypha().serviceId()).otherwiseEmpty() : Future.<Void>succeededFuture())
                .compose(v -> c.disconnect())
                .compose(v -> consumer.unregister());
    }

    /** Ready: connected, the worker service registered, and not leaving. */
    private boolean connected() {
        return !stopping && client != null && client.state() == HyphaClient.ConnectionState.CONNECTED;
    }

    private Future<JsonObject> awaitService(ServiceWait wait) {
        if (client == null) {
            return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE, "not connected to Hypha"));
        }
        return client.waitForService(wait.serviceId(), Duration.ofMillis(wait.timeoutMs()))
                .map(info -> new JsonObject().put("id", String.valueOf(info.get("id"))))
                .recover(err -> Future.failedFuture(new WorkerException(ErrorCode.TIMEOUT, err.getMessage())));
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
