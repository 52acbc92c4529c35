package io.hypha.k8sworker.watcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.LeaderOp;
import io.hypha.k8sworker.bus.Leadership;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.FakeKubeOps;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;

/**
 * With several replicas, only the leader sweeps abandoned launches: the service-watcher in process,
 * with a fake leader verticle on the bus that says this replica does not lead, then that it does.
 */
@ExtendWith(VertxExtension.class)
class SweeperLeadershipTest {

    private final FakeKubeOps kube = new FakeKubeOps();

    @Test
    void aReplicaThatDoesNotLeadLeavesAbandonedLaunchesToTheLeaderAndSweepsOnceItLeads(Vertx vertx, VertxTestContext ctx) {
        WorkerConfig config = WorkerConfig.load(Path.of("conf/config.yaml"), Map.of(
                "HYPHA_K8S_WORKER_REPLICAS_LEADER_ELECTION", "true",
                "HYPHA_K8S_WORKER_KUBERNETES_SUSPENDED_GRACE_SECONDS", "1"));
        vertx.eventBus().consumer(Addresses.LEADER, new OperationHandlers()
                .on(LeaderOp.STATUS, body -> Future.succeededFuture(new Leadership(false, "another-replica").toJson())));
        Job abandoned = ServiceWatcherInProcessTest.job("alice-1", "ws-alice", "alice", true);
        vertx.deployVerticle(new ServiceWatcherVerticle(config, kube)).onComplete(ctx.succeeding(id -> {
            kube.job(abandoned);
            // three times the grace, with sweeps every half second: a leader would have deleted it
            vertx.setTimer(3_000, t -> {
                ctx.verify(() -> assertThat(kube.deletedSuspendedJobs).isEmpty());
                vertx.eventBus().publish(Addresses.LEADER_STATUS, new Leadership(true, "this-replica").toJson());
                vertx.setPeriodic(100, p -> {
                    if (!kube.deletedSuspendedJobs.isEmpty()) {
                        vertx.cancelTimer(p);
                        ctx.verify(() -> assertThat(kube.deletedSuspendedJobs).containsExactly(abandoned.getMetadata().getName()));
                        ctx.completeNow();
                    }
                });
            });
        }));
    }
}
