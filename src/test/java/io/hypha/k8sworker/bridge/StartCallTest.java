package io.hypha.k8sworker.bridge;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.Admission;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.JobTypeOp;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.Launched;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.k8sworker.bus.StartWatch;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;

/**
 * The start path in process: StartCall against fake job-type and service-watcher peers on the
 * event bus, which record what they are asked in what order.
 */
@ExtendWith(VertxExtension.class)
class StartCallTest {

    private static final WorkerConfig CONFIG = WorkerConfig.load(Path.of("conf/config.yaml"), Map.of());
    private static final String SESSION = "ws-a/s1";

    private final List<String> asked = new CopyOnWriteArrayList<>();
    private StartCall start;

    @BeforeEach
    void setUp(Vertx vertx) {
        BusClient bus = new BusClient(vertx);
        JobTypeNames types = new JobTypeNames(List.of("k8s-job"));
        start = new StartCall(vertx, CONFIG, bus, new Callers(CONFIG.callers(), () -> null), types, new StartMetrics());
    }

    private static StartCall.Start startOf(LaunchRequest request) {
        return new StartCall.Start(request, "k8s-job", Progress.of(null), true, request.sessionId());
    }

    private static LaunchRequest request() {
        return new LaunchRequest(SESSION, "app", "ws-a", "s1", "http://127.0.0.1:1", null, "ws-a/caller",
                null, Map.of("image", "python:3.11"), "user-1");
    }

    /** The watcher's side: admits unless told otherwise, records every operation, answers await. */
    private void watcher(Vertx vertx, Future<?> admit, Future<?> await, List<JsonObject> watches) {
        vertx.eventBus().consumer(Addresses.SESSIONS, new OperationHandlers()
                .on(SessionOp.ADMIT, body -> {
                    asked.add("admit " + Admission.fromJson(body).sessionId());
                    return admit;
                })
                .on(SessionOp.RELEASE, body -> {
                    asked.add("release " + Admission.fromJson(body).sessionId());
                    return Future.succeededFuture();
                })
                .on(SessionOp.AWAIT, body -> {
                    asked.add("await " + StartWatch.fromJson(body).sessionId());
                    watches.add(body);
                    return await;
                }));
    }

    private void launcher(Vertx vertx, Future<JsonObject> answer) {
        vertx.eventBus().consumer(Addresses.jobType("k8s-job"), new OperationHandlers()
                .on(JobTypeOp.LAUNCH, body -> {
                    asked.add("launch " + LaunchRequest.fromJson(body).sessionId());
                    return answer;
                }));
    }

    @Test
    void aStartIsAdmittedThenLaunchedThenAwaitedWithWhatTheJobTypeAsks(Vertx vertx, VertxTestContext test) {
        List<JsonObject> watches = new CopyOnWriteArrayList<>();
        watcher(vertx, Future.succeededFuture(), Future.succeededFuture(new JsonObject()), watches);
        launcher(vertx, Future.succeededFuture(new Launched("job-1", SESSION, true, "my-svc", 42, Map.of()).toJson()));
        start.run(startOf(request())).onComplete(test.succeeding(id -> test.verify(() -> {
            assertThat(id).isEqualTo(SESSION);
            assertThat(asked).containsExactly("admit " + SESSION, "launch " + SESSION, "await " + SESSION);
            StartWatch watch = StartWatch.fromJson(watches.get(0));
            assertThat(watch.waitForService()).isTrue();
            assertThat(watch.serviceId()).isEqualTo("my-svc");
            assertThat(watch.serviceTimeoutSeconds()).isEqualTo(42);
            assertThat(watch.workspace()).isEqualTo("ws-a");
            test.completeNow();
        })));
    }

    @Test
    void aRefusedAdmissionLaunchesNothing(Vertx vertx, VertxTestContext test) {
        watcher(vertx, Future.failedFuture(new WorkerException(ErrorCode.LIMIT_REACHED, "workspace ws-a has 3 sessions")),
                Future.succeededFuture(), new CopyOnWriteArrayList<>());
        launcher(vertx, Future.succeededFuture(new Launched("job-1", SESSION, false, null, 0, Map.of()).toJson()));
        start.run(startOf(request())).onComplete(test.failing(err -> test.verify(() -> {
            assertThat(err).isInstanceOfSatisfying(WorkerException.class, e -> {
                assertThat(e.code()).isEqualTo(ErrorCode.LIMIT_REACHED);
                assertThat(e.getMessage()).isEqualTo("workspace ws-a has 3 sessions");
            });
            assertThat(asked).containsExactly("admit " + SESSION);
            test.completeNow();
        })));
    }

    @Test
    void aLaunchTheJobTypeRefusesGivesItsPlaceBackAndNamesTheReason(Vertx vertx, VertxTestContext test) {
        watcher(vertx, Future.succeededFuture(), Future.succeededFuture(), new CopyOnWriteArrayList<>());
        launcher(vertx, Future.failedFuture(WorkerException.invalid("manifest.image: not allowed")));
        start.run(startOf(request())).onComplete(test.failing(err -> vertx.setTimer(200, t -> test.verify(() -> {
            assertThat(err).isInstanceOfSatisfying(WorkerException.class, e -> {
                assertThat(e.code()).isEqualTo(ErrorCode.INVALID_REQUEST);
                assertThat(e.getMessage()).isEqualTo("manifest.image: not allowed");
            });
            assertThat(asked).containsExactly("admit " + SESSION, "launch " + SESSION, "release " + SESSION);
            test.completeNow();
        }))));
    }

    @Test
    void aJobTypeThatIsNotDeployedIsUnavailableAndGivesThePlaceBack(Vertx vertx, VertxTestContext test) {
        watcher(vertx, Future.succeededFuture(), Future.succeededFuture(), new CopyOnWriteArrayList<>());
        start.run(startOf(request())).onComplete(test.failing(err -> vertx.setTimer(200, t -> test.verify(() -> {
            assertThat(err).isInstanceOfSatisfying(WorkerException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.UNAVAILABLE));
            assertThat(asked).containsExactly("admit " + SESSION, "release " + SESSION);
            test.completeNow();
        }))));
    }

    @Test
    void aSessionThatFailsToStartReportsTheWatchersReason(Vertx vertx, VertxTestContext test) {
        watcher(vertx, Future.succeededFuture(), Future.failedFuture(new WorkerException(ErrorCode.START_FAILED,
                "session ws-a/s1: pod failed: ImagePullBackOff")), new CopyOnWriteArrayList<>());
        launcher(vertx, Future.succeededFuture(new Launched("job-1", SESSION, false, null, 0, Map.of()).toJson()));
        start.run(startOf(request())).onComplete(test.failing(err -> test.verify(() -> {
            assertThat(err).isInstanceOfSatisfying(WorkerException.class, e -> {
                assertThat(e.code()).isEqualTo(ErrorCode.START_FAILED);
                assertThat(e.getMessage()).contains("ImagePullBackOff");
            });
            // the Job exists and the watcher owns it now: its place is not given back by the start
            assertThat(asked).containsExactly("admit " + SESSION, "launch " + SESSION, "await " + SESSION);
            test.completeNow();
        })));
    }
}
