package io.hypha.k8sworker.watcher;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.Admission;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.Health;
import io.hypha.k8sworker.bus.HealthOp;
import io.hypha.k8sworker.bus.Leadership;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.StartWatch;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.KubeOps;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;

/**
 * Knows every session from its {@link SessionCache} and answers session queries and commands at
 * {@link Addresses#SESSIONS}: admissions ({@link Admissions}), following starts
 * ({@link StartFollower}), queries and stops ({@link SessionCommands}), logs ({@link SessionLogs},
 * {@link LogFollows}), with the {@link AbandonedLaunchSweeper} in the background. This class only
 * wires them and dispatches. Single instance: it holds the informers' view.
 */
public final class ServiceWatcherVerticle extends VerticleBase {

    private static final Logger LOG = LoggerFactory.getLogger(ServiceWatcherVerticle.class);

    private final WorkerConfig config;
    private final KubeOps kube;
    private MessageConsumer<JsonObject> consumer;
    private SessionCache cache;
    private AbandonedLaunchSweeper sweeper;
    private LogFollows follows;
    private PortWatch ports;
    private long healthTimer = -1;
    /** The API server's answer to the last reachability check (every 10 s: a probe need not wait for one). */
    private boolean apiServerAnswered;

    public ServiceWatcherVerticle(WorkerConfig config, KubeOps kube) {
        this.config = config;
        this.kube = kube;
    }

    @Override
    public Future<?> start() {
        cache = new SessionCache(context, kube, config.hypha().serviceId());
        sweeper = new AbandonedLaunchSweeper(vertx, cache, kube, config.kubernetes().suspendedGraceSeconds());
        Admissions admissions = new Admissions(vertx, config, cache, kube);
        follows = new LogFollows(vertx, context, kube);
        StartFollower starts = new StartFollower(vertx, config, cache, kube, new BusClient(vertx), admissions);
        // in this order: a Job first stops being a held place, then its waiters look at it
        cache.listen(sweeper);
        cache.listen(admissions);
        cache.listen(follows);
        // before the start's waiters: a session's ports are announced in its start's progress
        ports = new PortWatch(vertx);
        cache.listen(new WebPortsListener(cache, ports));
        cache.listen(starts);
        SessionCommands commands = new SessionCommands(cache, admissions, kube);
        SessionLogs logs = new SessionLogs(config.logs(), cache, kube, starts::progress);
        consumer = vertx.eventBus().consumer(Addresses.SESSIONS, handlers(commands, admissions, starts, logs));
        healthTimer = vertx.setPeriodic(10_000, t -> checkReachability());
        sweeper.start();
        Future<Void> leadership = new BusClient(vertx).followLeadership(new Leadership(!config.replicas().leaderElection(), null),
                now -> sweeper.leading(now.leading()));
        return Future.all(cache.start(), consumer.completion(), leadership).onSuccess(v -> {
            apiServerAnswered = true;
            LOG.info("watching {} session(s) in namespace {}", cache.size(), kube.namespace());
        });
    }

    @Override
    public Future<?> stop() {
        vertx.cancelTimer(healthTimer);
        sweeper.stop();
        follows.closeAll();
        ports.close();
        cache.close();
        return consumer.unregister();
    }

    private OperationHandlers handlers(SessionCommands commands, Admissions admissions, StartFollower starts, SessionLogs logs) {
        return new OperationHandlers()
                .on(HealthOp.CHECK, body -> health())
                .on(SessionOp.LIST, body -> Future.succeededFuture(commands.list(SessionRequest.fromJson(body))))
                .on(SessionOp.GET, body -> Future.succeededFuture(ports.describe(commands.owned(SessionRequest.fromJson(body)).toInfo())))
                .on(SessionOp.AWAIT, body -> starts.await(StartWatch.fromJson(body)))
                .on(SessionOp.STOP, body -> commands.stop(SessionRequest.fromJson(body)))
                .on(SessionOp.LOGS, body -> {
                    SessionRequest request = SessionRequest.fromJson(body);
                    return logs.logs(commands.owned(request), request);
                })
                .on(SessionOp.FOLLOW_LOGS, body -> follows.open(commands.owned(SessionRequest.fromJson(body)), config.logs().tailLines()))
                .on(SessionOp.FOLLOW_NEXT, body -> follows.next(body.getString("follow"), body.getInteger("max", 100)))
                .on(SessionOp.FOLLOW_CLOSE, body -> {
                    follows.close(body.getString("follow"));
                    return Future.succeededFuture();
                })
                .on(SessionOp.STOP_ALL, body -> commands.stopAll())
                .on(SessionOp.EXEC, body -> commands.exec(SessionRequest.fromJson(body), body))
                .on(SessionOp.REPLACE_DAEMON, body -> commands.replaceDaemon(body.getString("sessionId"), body.getString("workspace"),
                        body.getString("daemonApp")))
                .on(SessionOp.ADMIT, body -> admissions.admit(Admission.fromJson(body)))
                .on(SessionOp.RELEASE, body -> {
                    admissions.release(Admission.fromJson(body).sessionId());
                    return Future.succeededFuture();
                });
    }

    private void checkReachability() {
        kube.reachable().onComplete(ar -> apiServerAnswered = ar.succeeded() && ar.result());
    }

    /** Ready for Kubernetes: the API server answers and every informer is watching (so our view is current). */
    private Future<JsonObject> health() {
        boolean watching = cache.isWatching();
        return Health.answer(apiServerAnswered && watching, new JsonObject().put("apiServer", apiServerAnswered).put("watching", watching));
    }
}
