package io.hypha.k8sworker.watcher;

import static io.hypha.k8sworker.watcher.ServiceWatcherInProcessTest.job;
import static io.hypha.k8sworker.watcher.ServiceWatcherInProcessTest.pod;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.Admission;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.k8sworker.bus.StartWatch;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.FakeKubeOps;
import io.hypha.k8sworker.kube.SessionMeta;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;

/**
 * Session limits across replicas, in process: the Jobs of another replica's starts show in this
 * replica's cache between its admission of a start and its own Job showing. The start is counted
 * again at its Job's first sighting, against the Jobs created before it, and refused (its Job
 * deleted, never resumed) if the others took the room meanwhile.
 */
@ExtendWith(VertxExtension.class)
class CrossReplicaLimitsTest {

    private final FakeKubeOps kube = new FakeKubeOps();
    private BusClient bus;

    @BeforeEach
    void deploy(Vertx vertx, VertxTestContext ctx) {
        WorkerConfig config = WorkerConfig.load(Path.of("conf/config.yaml"), Map.of(
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_WORKSPACE", "2"));
        bus = new BusClient(vertx);
        vertx.deployVerticle(new ServiceWatcherVerticle(config, kube)).onComplete(ctx.succeedingThenComplete());
    }

    private Future<Object> admit(String sessionId) {
        return bus.request(Addresses.SESSIONS, SessionOp.ADMIT, new Admission(sessionId, "ws-alice", "alice", false).toJson());
    }

    private Future<JsonObject> await(String sessionId) {
        return bus.request(Addresses.SESSIONS, SessionOp.AWAIT, new StartWatch(sessionId, "ws-alice", false, null, 0).toJson());
    }

    private static String jobName(String sessionId) {
        return SessionMeta.jobName(sessionId, sessionId);
    }

    @Test
    void aStartWhoseRoomAnotherReplicaTookMeanwhileIsRefusedAndItsJobNeverRuns(VertxTestContext ctx) {
        kube.job(job("other-1", "ws-alice", "bob", false));
        admit("mine-1").compose(admitted -> {
            // another replica's start, admitted there at the same time, is stored first
            kube.job(job("other-2", "ws-alice", "carol", true));
            kube.job(job("mine-1", "ws-alice", "alice", true));
            return await("mine-1");
        }).onComplete(ctx.failing(err -> ctx.verify(() -> {
            assertThat(err).isInstanceOfSatisfying(WorkerException.class, e -> {
                assertThat(e.code()).isEqualTo(ErrorCode.LIMIT_REACHED);
                assertThat(e.getMessage()).contains("workspace ws-alice has 2 active sessions");
            });
            assertThat(kube.deletedJobs).containsExactly(jobName("mine-1"));
            assertThat(kube.resumedJobs).isEmpty();
            ctx.completeNow();
        })));
    }

    @Test
    void aStartStoredBeforeTheOthersKeepsItsRoomAndIsResumed(VertxTestContext ctx) {
        kube.job(job("other-1", "ws-alice", "bob", false));
        admit("mine-1").compose(admitted -> {
            kube.job(job("mine-1", "ws-alice", "alice", true));
            // a later start of another replica: counted against ours there, not ours against it here
            kube.job(job("other-2", "ws-alice", "carol", true));
            Future<JsonObject> started = await("mine-1");
            kube.pod(pod("mine-1", "mine-1-pod", "Running", null));
            return started;
        }).onComplete(ctx.succeeding(info -> ctx.verify(() -> {
            assertThat(info.getString("session_id")).isEqualTo("mine-1");
            assertThat(kube.resumedJobs).containsExactly(jobName("mine-1"));
            assertThat(kube.deletedJobs).isEmpty();
            ctx.completeNow();
        })));
    }

    @Test
    void aStartAwaitedBeforeItsJobShowsLearnsItsCountWhenItDoes(Vertx vertx, VertxTestContext ctx) {
        kube.job(job("other-1", "ws-alice", "bob", false));
        admit("mine-1").onComplete(ctx.succeeding(admitted -> {
            Future<JsonObject> started = await("mine-1");
            vertx.setTimer(200, t -> {
                kube.job(job("other-2", "ws-alice", "carol", true));
                kube.job(job("mine-1", "ws-alice", "alice", true));
            });
            started.onComplete(ctx.failing(err -> ctx.verify(() -> {
                assertThat(WorkerException.from(err).code()).isEqualTo(ErrorCode.LIMIT_REACHED);
                assertThat(kube.deletedJobs).containsExactly(jobName("mine-1"));
                assertThat(kube.resumedJobs).isEmpty();
                ctx.completeNow();
            })));
        }));
    }
}
