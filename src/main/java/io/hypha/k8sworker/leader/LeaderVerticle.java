package io.hypha.k8sworker.leader;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElector;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.Health;
import io.hypha.k8sworker.bus.HealthOp;
import io.hypha.k8sworker.bus.LeaderOp;
import io.hypha.k8sworker.bus.Leadership;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.config.WorkerConfig;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;

/**
 * Which replica leads: with {@code replicas.leaderElection} on, the replicas hold a Kubernetes Lease
 * through fabric8's leader election, and this verticle publishes every change of this replica's
 * {@link Leadership}; off, this one process leads from the start. Stopping gives the Lease up, so
 * that another replica takes over at once rather than when the Lease runs out.
 */
public final class LeaderVerticle extends VerticleBase {

    private static final Logger LOG = LoggerFactory.getLogger(LeaderVerticle.class);

    private final WorkerConfig.Replicas settings;
    private final KubernetesClient kubernetes;
    private final String namespace;
    private final String identity;
    private Leadership leadership;
    private MessageConsumer<JsonObject> consumer;
    private WorkerExecutor electionThread;
    private CompletableFuture<?> election;

    public LeaderVerticle(WorkerConfig.Replicas settings, KubernetesClient kubernetes, String namespace, String identity) {
        this.settings = settings;
        this.kubernetes = kubernetes;
        this.namespace = namespace;
        this.identity = identity;
        this.leadership = settings.leaderElection() ? new Leadership(false, null) : new Leadership(true, identity);
    }

    @Override
    public Future<?> start() {
        consumer = vertx.eventBus().consumer(Addresses.LEADER, new OperationHandlers()
                .on(LeaderOp.STATUS, body -> Future.succeededFuture(leadership.toJson()))
                // a replica that does not lead serves all the same
                .on(HealthOp.CHECK, body -> Health.answer(true, leadership.toJson())));
        return consumer.completion().onSuccess(v -> {
            if (settings.leaderElection()) {
                startElection();
            }
        });
    }

    private void startElection() {
        // fabric8 reads and writes the Lease with blocking calls: they run on a worker thread of their own
        electionThread = vertx.createSharedWorkerExecutor("leader-election", 1);
        Executor offLoop = task -> electionThread.executeBlocking(() -> {
            task.run();
            return null;
        }, false);
        LeaderElector elector = kubernetes.leaderElector()
                .withConfig(new LeaderElectionConfigBuilder()
                        .withName("hypha-k8s-worker")
                        .withLock(new LeaseLock(namespace, settings.leaseName(), identity))
                        .withLeaseDuration(Duration.ofSeconds(settings.leaseDurationSeconds()))
                        .withRenewDeadline(Duration.ofSeconds(settings.renewDeadlineSeconds()))
                        .withRetryPeriod(Duration.ofSeconds(settings.retryPeriodSeconds()))
                        .withReleaseOnCancel(true)
                        .withLeaderCallbacks(new LeaderCallbacks(
                                () -> changed(true, identity),
                                () -> changed(false, null),
                                leader -> changed(identity.equals(leader), leader)))
                        .build())
                .build();
        LOG.info("leader election on Lease {}/{} as {}", namespace, settings.leaseName(), identity);
        election = elector.start();
        election.whenComplete((v, err) -> {
            if (err != null && !election.isCancelled()) {
                LOG.error("leader election ended: {}", err.getMessage());
            }
        });
    }

    /** From fabric8's threads: the change is made and published on this verticle's context. */
    private void changed(boolean leading, String leader) {
        context.runOnContext(v -> {
            Leadership next = new Leadership(leading, leader);
            if (next.equals(leadership)) {
                return;
            }
            if (next.leading() != leadership.leading()) {
                LOG.info(leading ? "this replica ({}) leads now" : "this replica ({}) no longer leads", identity);
            }
            leadership = next;
            vertx.eventBus().publish(Addresses.LEADER_STATUS, next.toJson());
        });
    }

    @Override
    public Future<?> stop() {
        if (election == null) {
            return consumer.unregister();
        }
        // releaseOnCancel: the cancellation writes the Lease (given up for the next replica), a blocking call
        return electionThread.executeBlocking(() -> election.cancel(true), false)
                .eventually(() -> electionThread.close())
                .eventually(() -> consumer.unregister());
    }
}
