package io.hypha.k8sworker.watcher;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.HyphaOp;
import io.hypha.k8sworker.bus.ServiceWait;
import io.hypha.k8sworker.bus.StartWatch;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.KubeOps;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

/**
 * Follows starting sessions until their pod runs or fails (a fatal container state, an
 * unschedulable pod past its grace, the start timeout), then, if asked, until their service
 * registers in Hypha (asked of the bridge over the bus). Each step goes to the caller as progress
 * on the session's progress address and is kept for get_logs; a failed start deletes its Job unless
 * kubernetes.keepFailedJobs.
 */
final class StartFollower implements SessionCache.Listener {

    static final int PROGRESS_PER_SESSION = 50;
    static final int PROGRESS_SESSIONS = 1000;

    private static final Logger LOG = LoggerFactory.getLogger(StartFollower.class);

    private final Vertx vertx;
    private final WorkerConfig config;
    private final SessionCache cache;
    private final KubeOps kube;
    private final BusClient bus;
    private final Admissions admissions;
    private final Map<String, List<Waiter>> waiters = new HashMap<>();
    /**
     * The start-up progress of recent sessions, for get_logs' "progress" items as Hypha's workers keep
     * them: at most {@link #PROGRESS_PER_SESSION} per session, of the {@link #PROGRESS_SESSIONS} latest
     * sessions, dropped with the Job; kept in memory only, so a restarted worker has none of earlier starts.
     */
    private final Map<String, List<String>> progressBySession = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, List<String>> eldest) {
            return size() > PROGRESS_SESSIONS;
        }
    };

    StartFollower(Vertx vertx, WorkerConfig config, SessionCache cache, KubeOps kube, BusClient bus, Admissions admissions) {
        this.vertx = vertx;
        this.config = config;
        this.cache = cache;
        this.kube = kube;
        this.bus = bus;
        this.admissions = admissions;
    }

    /** The progress recorded for a session, oldest first ("INFO: ...", as Hypha's workers log them). */
    List<String> progress(String sessionId) {
        return progressBySession.getOrDefault(sessionId, List.of());
    }

    /**
     * A launched session: counted against the limits when its Job first shows (see
     * {@link Admissions}), then resumed and followed, or deleted before any pod ran and refused.
     */
    Future<JsonObject> await(StartWatch request) {
        String sessionId = request.sessionId();
        return admissions.verdict(sessionId)
                .compose(admitted -> resume(sessionId), refusal -> refuse(sessionId, refusal))
                .compose(resumed -> follow(request));
    }

    private Future<Void> resume(String sessionId) {
        String jobName = cache.view(sessionId).map(SessionView::jobName).orElse(null);
        if (jobName == null) {
            return Future.failedFuture(new WorkerException(ErrorCode.START_FAILED, "the session was stopped while it started"));
        }
        return kube.resumeJob(jobName).recover(err -> Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE,
                "session " + sessionId + ": could not resume Job " + jobName + ": " + err.getMessage())));
    }

    /** Another replica's start came first: this one's Job goes before any pod ran, Secret and all. */
    private Future<Void> refuse(String sessionId, Throwable refusal) {
        String jobName = cache.view(sessionId).map(SessionView::jobName).orElse(null);
        LOG.info("session {}: over a session limit once counted with the other replicas' starts; deleting Job {}", sessionId, jobName);
        Future<Boolean> deleted = jobName == null ? Future.succeededFuture(false) : kube.deleteJob(jobName);
        return deleted.transform(ar -> Future.failedFuture(refusal));
    }

    private Future<JsonObject> follow(StartWatch request) {
        String sessionId = request.sessionId();
        String jobName = cache.view(sessionId).map(SessionView::jobName).orElse(null);
        recordProgress(sessionId, "info", (jobName == null ? "Job" : "Job " + jobName) + " created; waiting for its pod");
        Waiter w = new Waiter(sessionId, request);
        waiters.computeIfAbsent(sessionId, k -> new ArrayList<>()).add(w);
        long startTimeoutMs = config.kubernetes().startTimeoutSeconds() * 1000L;
        w.timer = vertx.setTimer(startTimeoutMs, t -> w.fail(new WorkerException(ErrorCode.START_FAILED,
                "the pod did not start within " + config.kubernetes().startTimeoutSeconds() + " s"
                        + cache.view(sessionId).flatMap(SessionView::latestPod).map(p -> " (last state: " + describe(p) + ")").orElse(""))));
        evaluate(w);
        return w.done.future()
                .recover(err -> cleanUpFailedStart(sessionId).transform(x -> Future.failedFuture(err)))
                .andThen(ar -> {
                    List<Waiter> l = waiters.get(sessionId);
                    if (l != null) {
                        l.remove(w);
                        if (l.isEmpty()) {
                            waiters.remove(sessionId);
                        }
                    }
                });
    }

    @Override
    public void jobSeen(Job job, String sessionId) {
        sessionChanged(sessionId);
    }

    @Override
    public void podSeen(Pod pod, String sessionId) {
        sessionChanged(sessionId);
    }

    @Override
    public void jobGone(Job job, String sessionId) {
        if (sessionId == null) {
            return;
        }
        progressBySession.remove(sessionId);
        List<Waiter> pending = waiters.remove(sessionId);
        if (pending != null) {
            pending.forEach(w -> w.fail(new WorkerException(ErrorCode.START_FAILED, "the session was stopped while it started")));
        }
    }

    /** A Warning about the Job or a pod of a session that is starting goes to its caller as progress. */
    @Override
    public void eventSeen(Event event) {
        if (waiters.isEmpty() || !"Warning".equals(event.getType()) || event.getInvolvedObject() == null) {
            return;
        }
        String name = event.getInvolvedObject().getName();
        for (Map.Entry<String, List<Waiter>> e : waiters.entrySet()) {
            Optional<SessionView> s = cache.view(e.getKey());
            boolean concerns = s.isPresent() && (s.get().jobName().equals(name)
                    || s.get().pods().stream().anyMatch(p -> p.getMetadata().getName().equals(name)));
            if (concerns) {
                String message = "Warning " + event.getReason() + ": " + event.getMessage();
                e.getValue().forEach(w -> w.progress("warning", message));
            }
        }
    }

    /** One start waiting for its pod (and maybe its service). */
    private final class Waiter {
        final String sessionId;
        final StartWatch request;
        final Promise<JsonObject> done = Promise.promise();
        final long startedNanos = System.nanoTime();
        String lastProgress;
        long timer = -1;
        boolean podReady;

        Waiter(String sessionId, StartWatch request) {
            this.sessionId = sessionId;
            this.request = request;
        }

        void progress(String type, String message) {
            if (message.equals(lastProgress)) {
                return;
            }
            lastProgress = message;
            recordProgress(sessionId, type, message);
            vertx.eventBus().publish(Addresses.sessionProgress(sessionId), new JsonObject().put("type", type).put("message", message));
        }

        void fail(WorkerException e) {
            vertx.cancelTimer(timer);
            if (done.tryFail(e)) {
                recordProgress(sessionId, "error", e.getMessage());
            }
        }

        void complete(JsonObject info) {
            vertx.cancelTimer(timer);
            if (done.tryComplete(info)) {
                recordProgress(sessionId, "success", "Session " + sessionId + " started");
            }
        }
    }

    /** One progress message, as Hypha's workers log them ("INFO: ..."). */
    private void recordProgress(String sessionId, String type, String message) {
        List<String> list = progressBySession.computeIfAbsent(sessionId, k -> new ArrayList<>());
        if (list.size() < PROGRESS_PER_SESSION) {
            list.add(type.toUpperCase(Locale.ROOT) + ": " + message);
        }
    }

    private Future<Void> cleanUpFailedStart(String sessionId) {
        if (config.kubernetes().keepFailedJobs()) {
            return Future.succeededFuture();
        }
        String jobName = cache.view(sessionId).map(SessionView::jobName).orElse(null);
        if (jobName == null) {
            return Future.succeededFuture();
        }
        LOG.info("session {}: start failed, deleting Job {}", sessionId, jobName);
        return kube.deleteJob(jobName).<Void>mapEmpty()
                .otherwise(err -> {
                    LOG.warn("session {}: could not delete Job {}: {}", sessionId, jobName, err.getMessage());
                    return null;
                });
    }

    private void sessionChanged(String sessionId) {
        List<Waiter> l = sessionId == null ? null : waiters.get(sessionId);
        if (l != null) {
            new ArrayList<>(l).forEach(this::evaluate);
        }
    }

    private void evaluate(Waiter w) {
        if (w.done.future().isComplete() || w.podReady) {
            return;
        }
        Optional<SessionView> maybe = cache.view(w.sessionId);
        if (maybe.isEmpty()) {
            return;
        }
        SessionView s = maybe.get();
        String failure = s.failure();
        if (failure != null) {
            w.progress("error", failure);
            w.fail(new WorkerException(ErrorCode.START_FAILED, "session " + w.sessionId + " failed to start: " + failure));
            return;
        }
        Optional<Pod> pod = s.latestPod();
        if (pod.isEmpty()) {
            w.progress("info", "Waiting for the pod of Job " + s.jobName());
            return;
        }
        Pod p = pod.get();
        Optional<PodCondition> scheduled = SessionView.podCondition(p, "PodScheduled");
        if (scheduled.isPresent() && "False".equals(scheduled.get().getStatus()) && "Unschedulable".equals(scheduled.get().getReason())) {
            long waitedSeconds = (System.nanoTime() - w.startedNanos) / 1_000_000_000L;
            if (waitedSeconds >= config.kubernetes().unschedulableGraceSeconds()) {
                w.fail(new WorkerException(ErrorCode.START_FAILED, "session " + w.sessionId + " failed to start: Unschedulable: "
                        + scheduled.get().getMessage()));
                return;
            }
            w.progress("warning", "Unschedulable: " + scheduled.get().getMessage());
            vertx.setTimer(1000L * config.kubernetes().unschedulableGraceSeconds() - waitedSeconds * 1000L + 100, t -> evaluate(w));
            return;
        }
        String phase = SessionView.phase(p);
        if ("Running".equals(phase) || "Succeeded".equals(phase)) {
            w.progress("success", "Pod " + p.getMetadata().getName() + " is " + phase.toLowerCase(Locale.ROOT));
            w.podReady = true;
            onPodReady(w, s);
            return;
        }
        w.progress("info", describe(p));
    }

    private static String describe(Pod p) {
        Optional<ContainerStatus> main = SessionView.mainContainer(p);
        if (main.isPresent() && main.get().getState() != null && main.get().getState().getWaiting() != null) {
            var waiting = main.get().getState().getWaiting();
            return "Container waiting: " + waiting.getReason() + (waiting.getMessage() == null ? "" : ": " + waiting.getMessage());
        }
        if (p.getSpec() != null && p.getSpec().getNodeName() != null) {
            return "Pod " + p.getMetadata().getName() + " scheduled on " + p.getSpec().getNodeName();
        }
        return "Pod " + p.getMetadata().getName() + " is " + Objects.requireNonNullElse(SessionView.phase(p), "pending").toLowerCase(Locale.ROOT);
    }

    private void onPodReady(Waiter w, SessionView s) {
        vertx.cancelTimer(w.timer);
        StartWatch request = w.request;
        if (!request.waitForService()) {
            w.complete(s.toInfo());
            return;
        }
        String serviceId = request.workspace() + "/" + request.serviceId();
        long timeoutMs = request.serviceTimeoutSeconds() * 1000L;
        w.progress("info", "Waiting for service " + serviceId + " to register");
        bus.<JsonObject>request(Addresses.HYPHA, HyphaOp.AWAIT_SERVICE, new ServiceWait(serviceId, timeoutMs).toJson(), timeoutMs + 10_000)
                .onComplete(ar -> {
                    if (ar.succeeded()) {
                        w.progress("success", "Service " + serviceId + " is registered");
                        w.complete(cache.view(w.sessionId).map(SessionView::toInfo).orElse(new JsonObject()).put("service", ar.result()));
                    } else {
                        WorkerException e = WorkerException.from(ar.cause());
                        w.fail(new WorkerException(ErrorCode.START_FAILED, "session " + w.sessionId + ": service " + serviceId
                                + " did not register within " + timeoutMs / 1000 + " s" + (e.code() == ErrorCode.TIMEOUT ? "" : ": " + e.getMessage())));
                    }
                });
    }
}
