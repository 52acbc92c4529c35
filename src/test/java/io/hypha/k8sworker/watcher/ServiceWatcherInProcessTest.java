package io.hypha.k8sworker.watcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.fabric8.kubernetes.api.model.ContainerStateBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.Admission;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.Health;
import io.hypha.k8sworker.bus.HealthOp;
import io.hypha.k8sworker.bus.HyphaOp;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.bus.ServiceWait;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.StartWatch;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.FakeKubeOps;
import io.hypha.k8sworker.kube.SessionMeta;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;

/**
 * The service-watcher in process, against a fake Kubernetes and, for the service wait, a fake
 * bridge: deployed as in the worker and spoken to only over the event bus, as the bridge and the
 * launchers do.
 */
@ExtendWith(VertxExtension.class)
class ServiceWatcherInProcessTest {

    private static final SessionRequest ALICE = SessionRequest.of("ws-alice", false);
    private static final SessionRequest BOB = SessionRequest.of("ws-bob", false);
    private static final SessionRequest ADMIN = SessionRequest.of("ws-admin", true);

    private final FakeKubeOps kube = new FakeKubeOps();
    private BusClient bus;

    @BeforeEach
    void deploy(Vertx vertx, VertxTestContext ctx) {
        WorkerConfig config = WorkerConfig.load(Path.of("conf/config.yaml"), Map.of(
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_WORKSPACE", "2",
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_USER", "1",
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_TOTAL", "3",
                "HYPHA_K8S_WORKER_KUBERNETES_SUSPENDED_GRACE_SECONDS", "1"));
        assertThat(config.callers().maxSessionsPerUser()).isEqualTo(1);
        assertThat(config.policy().maxSessionsPerWorkspace()).isEqualTo(2);
        assertThat(config.kubernetes().keepFailedJobs()).isFalse();
        bus = new BusClient(vertx);
        vertx.deployVerticle(new ServiceWatcherVerticle(config, kube)).onComplete(ctx.succeedingThenComplete());
    }

    @Test
    void itIsHealthyOnceItsInformersWatch(VertxTestContext ctx) {
        bus.<JsonObject>request(Addresses.SESSIONS, HealthOp.CHECK, new JsonObject()).onComplete(ctx.succeeding(answer -> ctx.verify(() -> {
            Health health = Health.fromJson(answer);
            assertThat(health.up()).isTrue();
            assertThat(health.details().getBoolean("watching")).isTrue();
            ctx.completeNow();
        })));
    }

    // ------------------------------------------------------------------ visibility

    @Test
    void aCallerSeesItsOwnWorkspaceAndAForeignSessionIsUnknown(VertxTestContext ctx) {
        kube.job(job("alice-1", "ws-alice", "alice", false));
        kube.job(job("bob-1", "ws-bob", "bob", false));
        Future<JsonArray> alices = ask(SessionOp.LIST, ALICE);
        Future<JsonArray> all = ask(SessionOp.LIST, ADMIN);
        Future<JsonObject> own = ask(SessionOp.GET, ALICE.session("alice-1"));
        Future<JsonObject> foreign = ask(SessionOp.GET, ALICE.session("bob-1"));
        Future<JsonObject> missing = ask(SessionOp.GET, ALICE.session("nobody-1"));
        Future.join(alices, all, own, foreign, missing).onComplete(ar -> ctx.verify(() -> {
            assertThat(ids(alices.result())).containsExactly("alice-1");
            assertThat(ids(all.result())).containsExactlyInAnyOrder("alice-1", "bob-1");
            assertThat(own.result().getString("workspace")).isEqualTo("ws-alice");
            assertThat(own.result().getString("status")).isEqualTo("starting");
            assertThat(code(foreign)).isEqualTo(ErrorCode.UNKNOWN_SESSION);
            assertThat(foreign.cause().getMessage()).isEqualTo("unknown session: bob-1").doesNotContain("ws-bob");
            assertThat(code(missing)).isEqualTo(ErrorCode.UNKNOWN_SESSION);
            ctx.completeNow();
        }));
    }

    @Test
    void aStopFromAnotherWorkspaceDeletesNothingAndTheOwnersStopDeletesTheJob(VertxTestContext ctx) {
        Job job = job("alice-1", "ws-alice", "alice", false);
        kube.job(job);
        ask(SessionOp.STOP, BOB.session("alice-1"))
                .compose(x -> {
                    ctx.verify(() -> assertThat(kube.deletedJobs).isEmpty());
                    return ask(SessionOp.STOP, ALICE.session("alice-1"));
                })
                .compose(x -> ask(SessionOp.LIST, ADMIN))
                .onComplete(ctx.succeeding(list -> ctx.verify(() -> {
                    assertThat(kube.deletedJobs).containsExactly(job.getMetadata().getName());
                    assertThat(ids((JsonArray) list)).isEmpty();
                    ctx.completeNow();
                })));
    }

    // ------------------------------------------------------------------ admissions

    @Test
    void admissionsCountHeldPlacesAndJobsUnderEachLimit(VertxTestContext ctx) {
        kube.job(job("alice-1", "ws-alice", "alice", false));
        admit("alice-1", "ws-alice", "alice").onComplete(ctx.failing(dup -> ctx.verify(() -> {
            assertThat(WorkerException.from(dup).code()).isEqualTo(ErrorCode.CONFLICT);
            admit("alice-2", "ws-alice", "alice").onComplete(ctx.failing(perUser -> ctx.verify(() -> {
                // the user's one session is a Job already
                assertThat(WorkerException.from(perUser).code()).isEqualTo(ErrorCode.LIMIT_REACHED);
                assertThat(perUser.getMessage()).contains("policy.maxSessionsPerUser");
                admit("carol-1", "ws-alice", "carol")
                        .compose(x -> admit("dave-1", "ws-alice", "dave"))
                        .onComplete(ctx.failing(perWorkspace -> ctx.verify(() -> {
                            // a held place counts like a Job
                            assertThat(WorkerException.from(perWorkspace).code()).isEqualTo(ErrorCode.LIMIT_REACHED);
                            assertThat(perWorkspace.getMessage()).contains("workspace ws-alice has 2 active sessions")
                                    .contains("policy.maxSessionsPerWorkspace");
                            bus.request(Addresses.SESSIONS, SessionOp.RELEASE, new Admission("carol-1", "ws-alice", "carol", true).toJson())
                                    .compose(x -> admit("dave-1", "ws-alice", "dave"))
                                    .compose(x -> admit("erin-1", "ws-erin", "erin"))
                                    .compose(x -> admit("frank-1", "ws-frank", "frank"))
                                    .onComplete(ctx.failing(total -> ctx.verify(() -> {
                                        assertThat(WorkerException.from(total).code()).isEqualTo(ErrorCode.LIMIT_REACHED);
                                        assertThat(total.getMessage()).contains("policy.maxSessionsTotal").doesNotContain("3");
                                        ctx.completeNow();
                                    })));
                        })));
            })));
        })));
    }

    @Test
    void aStopBeforeTheJobAppearsDeletesItWhenItDoes(VertxTestContext ctx) {
        Job job = job("alice-1", "ws-alice", "alice", false);
        admit("alice-1", "ws-alice", "alice")
                .compose(x -> ask(SessionOp.STOP, ALICE.session("alice-1")))
                .compose(x -> {
                    ctx.verify(() -> assertThat(kube.deletedJobs).isEmpty());
                    kube.job(job);
                    return ask(SessionOp.LIST, ADMIN);
                })
                .compose(x -> ask(SessionOp.LIST, ADMIN))
                .onComplete(ctx.succeeding(list -> ctx.verify(() -> {
                    assertThat(kube.deletedJobs).containsExactly(job.getMetadata().getName());
                    ctx.completeNow();
                })));
    }

    // ------------------------------------------------------------------ following a start

    @Test
    void aStartEndsWhenThePodRuns(VertxTestContext ctx) {
        kube.job(job("alice-1", "ws-alice", "alice", false));
        Future<JsonObject> started = ask(SessionOp.AWAIT, new StartWatch("alice-1", "ws-alice", false, null, 0).toJson());
        kube.pod(pod("alice-1", "alice-1-pod", "Pending", null));
        ask(SessionOp.LIST, ALICE).compose(x -> {
            ctx.verify(() -> assertThat(started.isComplete()).as("done before the pod runs").isFalse());
            kube.pod(pod("alice-1", "alice-1-pod", "Running", null));
            return started;
        }).compose(info -> {
            ctx.verify(() -> {
                assertThat(info.getString("status")).isEqualTo("running");
                assertThat(info.getString("pod_name")).isEqualTo("alice-1-pod");
            });
            return ask(SessionOp.LOGS, ALICE.session("alice-1").logs("progress", 0, null));
        }).onComplete(ctx.succeeding(logs -> ctx.verify(() -> {
            List<String> progress = contents((JsonObject) logs);
            assertThat(progress).contains("SUCCESS: Pod alice-1-pod is running", "SUCCESS: Session alice-1 started");
            assertThat(kube.deletedJobs).isEmpty();
            ctx.completeNow();
        })));
    }

    @Test
    void anImageThatCannotBePulledFailsTheStartAndRemovesItsJob(VertxTestContext ctx) {
        Job job = job("alice-1", "ws-alice", "alice", false);
        kube.job(job);
        Future<JsonObject> started = ask(SessionOp.AWAIT, new StartWatch("alice-1", "ws-alice", false, null, 0).toJson());
        kube.pod(pod("alice-1", "alice-1-pod", "Pending", new ContainerStateBuilder().withNewWaiting()
                .withReason("ImagePullBackOff").withMessage("Back-off pulling image \"nope:1\"").endWaiting().build()));
        started.onComplete(ctx.failing(err -> ctx.verify(() -> {
            assertThat(WorkerException.from(err).code()).isEqualTo(ErrorCode.START_FAILED);
            assertThat(err.getMessage()).isEqualTo("session alice-1 failed to start: ImagePullBackOff: Back-off pulling image \"nope:1\"");
            assertThat(kube.deletedJobs).containsExactly(job.getMetadata().getName());
            ctx.completeNow();
        })));
    }

    @Test
    void aContainerKilledForMemoryFailsTheStartWithItsReason(VertxTestContext ctx) {
        kube.job(job("alice-1", "ws-alice", "alice", false));
        Future<JsonObject> started = ask(SessionOp.AWAIT, new StartWatch("alice-1", "ws-alice", false, null, 0).toJson());
        kube.pod(pod("alice-1", "alice-1-pod", "Failed", new ContainerStateBuilder().withNewTerminated()
                .withExitCode(137).withReason("OOMKilled").endTerminated().build()));
        started.onComplete(ctx.failing(err -> ctx.verify(() -> {
            assertThat(WorkerException.from(err).code()).isEqualTo(ErrorCode.START_FAILED);
            assertThat(err.getMessage()).isEqualTo("session alice-1 failed to start: pod alice-1-pod failed "
                    + "(container exited with code 137, OOMKilled)");
            ctx.completeNow();
        })));
    }

    @Test
    void aWarningEventAboutAStartingPodIsReportedAsProgress(VertxTestContext ctx) {
        kube.job(job("alice-1", "ws-alice", "alice", false));
        ask(SessionOp.AWAIT, new StartWatch("alice-1", "ws-alice", false, null, 0).toJson());
        kube.pod(pod("alice-1", "alice-1-pod", "Pending", null));
        kube.event(new EventBuilder().withNewMetadata().withName("e1").withCreationTimestamp("2026-01-01T00:00:00Z").endMetadata()
                .withType("Warning").withReason("FailedMount").withMessage("secret not found")
                .withNewInvolvedObject().withKind("Pod").withName("alice-1-pod").endInvolvedObject().build());
        ask(SessionOp.LOGS, ALICE.session("alice-1").logs(null, 0, null)).onComplete(ctx.succeeding(logs -> ctx.verify(() -> {
            List<String> items = contents((JsonObject) logs);
            assertThat(items).contains("WARNING: Warning FailedMount: secret not found", "FailedMount: secret not found (Pod alice-1-pod)");
            ctx.completeNow();
        })));
    }

    @Test
    void theServiceWaitIsAskedOfTheBridge(Vertx vertx, VertxTestContext ctx) {
        List<ServiceWait> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        vertx.eventBus().consumer(Addresses.HYPHA, new OperationHandlers().on(HyphaOp.AWAIT_SERVICE, body -> {
            ServiceWait wait = ServiceWait.fromJson(body);
            asked.add(wait);
            return wait.serviceId().endsWith("/late-svc")
                    ? Future.failedFuture(new WorkerException(ErrorCode.TIMEOUT, "no such service yet"))
                    : Future.succeededFuture(new JsonObject().put("id", "ws-alice/client:" + wait.serviceId().split("/")[1]));
        })).completion().compose(x -> {
            kube.job(job("alice-1", "ws-alice", "alice", false));
            kube.job(job("alice-2", "ws-alice", "alice", false));
            kube.pod(pod("alice-1", "alice-1-pod", "Running", null));
            kube.pod(pod("alice-2", "alice-2-pod", "Running", null));
            Future<JsonObject> registered = ask(SessionOp.AWAIT, new StartWatch("alice-1", "ws-alice", true, "my-svc", 30).toJson());
            Future<JsonObject> late = ask(SessionOp.AWAIT, new StartWatch("alice-2", "ws-alice", true, "late-svc", 30).toJson());
            return Future.join(registered, late).transform(ar -> Future.succeededFuture(List.of(registered, late)));
        }).onComplete(ctx.succeeding(results -> ctx.verify(() -> {
            Future<JsonObject> registered = results.get(0);
            Future<JsonObject> late = results.get(1);
            assertThat(registered.result().getJsonObject("service").getString("id")).isEqualTo("ws-alice/client:my-svc");
            assertThat(registered.result().getString("status")).isEqualTo("running");
            assertThat(asked).extracting(ServiceWait::serviceId).containsExactlyInAnyOrder("ws-alice/my-svc", "ws-alice/late-svc");
            assertThat(asked).extracting(ServiceWait::timeoutMs).containsOnly(30_000L);
            assertThat(code(late)).isEqualTo(ErrorCode.START_FAILED);
            assertThat(late.cause().getMessage()).isEqualTo("session alice-2: service ws-alice/late-svc did not register within 30 s");
            ctx.completeNow();
        })));
    }

    @Test
    void aSessionStoppedWhileItStartsFailsItsAwait(VertxTestContext ctx) {
        kube.job(job("alice-1", "ws-alice", "alice", false));
        Future<JsonObject> started = ask(SessionOp.AWAIT, new StartWatch("alice-1", "ws-alice", false, null, 0).toJson());
        ask(SessionOp.STOP, ALICE.session("alice-1")).compose(x -> started).onComplete(ctx.failing(err -> ctx.verify(() -> {
            assertThat(WorkerException.from(err).code()).isEqualTo(ErrorCode.START_FAILED);
            assertThat(err.getMessage()).isEqualTo("the session was stopped while it started");
            ctx.completeNow();
        })));
    }

    // ------------------------------------------------------------------ logs, the sweeper

    @Test
    void logsAreRefusedAsBusyWhenTheLogReadsAreAllTaken(VertxTestContext ctx) {
        kube.job(job("alice-1", "ws-alice", "alice", false));
        kube.pod(pod("alice-1", "alice-1-pod", "Running", null));
        kube.logs = pod -> Future.failedFuture(new RejectedExecutionException("all log reads are taken"));
        ask(SessionOp.LOGS, ALICE.session("alice-1").logs(null, 0, null)).onComplete(ctx.failing(err -> ctx.verify(() -> {
            assertThat(WorkerException.from(err).code()).isEqualTo(ErrorCode.UNAVAILABLE);
            assertThat(err.getMessage()).contains("logs.threads, logs.queue");
            kube.logs = pod -> Future.succeededFuture("one\ntwo\n");
            ask(SessionOp.LOGS, ALICE.session("alice-1").logs("stdout", 1, 5)).onComplete(ctx.succeeding(logs -> ctx.verify(() -> {
                assertThat(contents((JsonObject) logs)).containsExactly("two");
                assertThat(((JsonObject) logs).getInteger("total")).isEqualTo(2);
                ctx.completeNow();
            })));
        })));
    }

    @Test
    void aFollowedLogHandsOutTheLinesWrittenAndEndsWithTheStream(VertxTestContext ctx) {
        kube.job(job("alice-1", "ws-alice", "alice", false));
        kube.pod(pod("alice-1", "alice-1-pod", "Running", null));
        Future<JsonObject> foreign = ask(SessionOp.FOLLOW_LOGS, BOB.session("alice-1"));
        ask(SessionOp.FOLLOW_LOGS, ALICE.session("alice-1")).compose(opened -> {
            JsonObject follow = (JsonObject) opened;
            ctx.verify(() -> {
                assertThat(follow.getString("pod")).isEqualTo("alice-1-pod");
                assertThat(code(foreign)).isEqualTo(ErrorCode.UNKNOWN_SESSION);
                kube.writeLog("alice-1-pod", "first\nsecond\npart");
            });
            return ask(SessionOp.FOLLOW_NEXT, new JsonObject().put("follow", follow.getString("follow")).put("max", 100))
                    .compose(batch -> {
                        ctx.verify(() -> {
                            assertThat(((JsonObject) batch).getJsonArray("lines").getList()).containsExactly("first", "second");
                            assertThat(((JsonObject) batch).getBoolean("end")).isFalse();
                        });
                        kube.endLog("alice-1-pod");
                        return ask(SessionOp.FOLLOW_NEXT, new JsonObject().put("follow", follow.getString("follow")).put("max", 100));
                    });
        }).onComplete(ctx.succeeding(last -> ctx.verify(() -> {
            // the line the stream ended in without its newline comes last
            assertThat(((JsonObject) last).getJsonArray("lines").getList()).containsExactly("part");
            assertThat(((JsonObject) last).getBoolean("end")).isTrue();
            ctx.completeNow();
        })));
    }

    @Test
    void aJobLeftSuspendedPastTheGraceIsDeletedAndAResumedOneIsNot(Vertx vertx, VertxTestContext ctx) {
        Job abandoned = job("alice-1", "ws-alice", "alice", true);
        Job resumed = job("alice-2", "ws-alice", "alice", true);
        kube.job(abandoned);
        kube.job(resumed);
        kube.job(job("alice-2", "ws-alice", "alice", false));
        // kubernetes.suspendedGraceSeconds is 1: the Job still suspended after it goes, the one resumed at once stays
        vertx.setPeriodic(100, t -> {
            if (!kube.deletedSuspendedJobs.isEmpty()) {
                vertx.cancelTimer(t);
                ctx.verify(() -> {
                    assertThat(kube.deletedSuspendedJobs).containsExactly(abandoned.getMetadata().getName());
                    assertThat(kube.deletedJobs).isEmpty();
                    ctx.completeNow();
                });
            }
        });
    }

    // ------------------------------------------------------------------ helpers

    private <T> Future<T> ask(SessionOp op, SessionRequest request) {
        return bus.request(Addresses.SESSIONS, op, request.toJson());
    }

    private <T> Future<T> ask(SessionOp op, JsonObject body) {
        return bus.request(Addresses.SESSIONS, op, body);
    }

    private Future<Void> admit(String sessionId, String workspace, String user) {
        return bus.request(Addresses.SESSIONS, SessionOp.ADMIT, new Admission(sessionId, workspace, user, true).toJson());
    }

    private static ErrorCode code(Future<?> failed) {
        assertThat(failed.failed()).as("the request failed").isTrue();
        return WorkerException.from(failed.cause()).code();
    }

    private static List<String> ids(JsonArray sessions) {
        return sessions.stream().map(JsonObject.class::cast).map(s -> s.getString("session_id")).toList();
    }

    private static List<String> contents(JsonObject logs) {
        return logs.getJsonArray("items").stream().map(JsonObject.class::cast).map(i -> i.getString("content")).toList();
    }

    static Job job(String sessionId, String workspace, String user, boolean suspended) {
        Map<String, String> annotations = new HashMap<>(Map.of(SessionMeta.SESSION_ID, sessionId, SessionMeta.WORKSPACE, workspace,
                SessionMeta.USER, user, SessionMeta.CREATED_AT, "2026-01-01T00:00:0" + (sessionId.hashCode() & 7) + "Z"));
        return new JobBuilder().withNewMetadata().withName(SessionMeta.jobName(sessionId, sessionId)).withNamespace("fake")
                .withResourceVersion(suspended ? "1" : "2")
                .withLabels(Map.of(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE, SessionMeta.SESSION_KEY, SessionMeta.sessionKey(sessionId),
                        SessionMeta.JOB_TYPE, "k8s-job"))
                .withAnnotations(annotations).endMetadata()
                .withNewSpec().withSuspend(suspended).endSpec().build();
    }

    static Pod pod(String sessionId, String name, String phase, io.fabric8.kubernetes.api.model.ContainerState mainState) {
        PodBuilder pod = new PodBuilder().withNewMetadata().withName(name).withNamespace("fake")
                .withCreationTimestamp("2026-01-01T00:00:01Z")
                .withLabels(Map.of(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(sessionId)))
                .withAnnotations(Map.of(SessionMeta.SESSION_ID, sessionId)).endMetadata()
                .withNewStatus().withPhase(phase).endStatus();
        if (mainState != null) {
            pod.editStatus().withContainerStatuses(new ContainerStatusBuilder().withName(SessionMeta.MAIN_CONTAINER).withState(mainState)
                    .withRestartCount(0).build()).endStatus();
        }
        return pod.build();
    }
}
