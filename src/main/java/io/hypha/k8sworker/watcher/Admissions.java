package io.hypha.k8sworker.watcher;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.hypha.k8sworker.bus.Admission;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.KubeOps;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

/**
 * Room for new sessions under policy.maxSessionsPerWorkspace, maxSessionsPerUser and
 * maxSessionsTotal. A place is held from the admission until the session's Job shows in the cache
 * (or the launch gives it back, or {@link #HOLD_MS} pass), so concurrent starts cannot overshoot;
 * the watcher is the only one deciding, one request at a time. A user's sessions are known from
 * their Jobs' annotation, so a restarted worker counts them.
 */
final class Admissions implements SessionCache.Listener {

    /** How long room for a launch is held if neither its Job appears nor the launch reports failure. */
    static final long HOLD_MS = 120_000;

    private static final Logger LOG = LoggerFactory.getLogger(Admissions.class);

    private final Vertx vertx;
    private final WorkerConfig config;
    private final SessionCache cache;
    private final KubeOps kube;
    /** Sessions admitted whose Job the informer has not shown yet: session id to workspace. */
    private final Map<String, String> admitted = new HashMap<>();
    /** The user of each admitted session that counts towards policy.maxSessionsPerUser; entries leave with {@link #admitted}'s. */
    private final Map<String, String> admittedUsers = new HashMap<>();
    /** Admitted sessions stopped before their Job appeared: the Job is deleted when it does. */
    private final Set<String> stopOnArrival = new HashSet<>();

    Admissions(Vertx vertx, WorkerConfig config, SessionCache cache, KubeOps kube) {
        this.vertx = vertx;
        this.config = config;
        this.cache = cache;
        this.kube = kube;
    }

    Future<Void> admit(Admission a) {
        if (cache.view(a.sessionId()).isPresent() || admitted.containsKey(a.sessionId())) {
            return Future.failedFuture(new WorkerException(ErrorCode.CONFLICT, "a session with id " + a.sessionId() + " already exists"));
        }
        admittedUsers.keySet().retainAll(admitted.keySet());
        WorkerConfig.Policy policy = config.policy();
        int maxPerUser = a.userLimited() ? config.callers().maxSessionsPerUser() : 0;
        int inWorkspace = 0;
        int ofUser = 0;
        int total = 0;
        for (SessionView s : cache.sessions()) {
            if (s.sessionId() != null && !admitted.containsKey(s.sessionId()) && s.occupiesSlot()) {
                inWorkspace += Objects.equals(s.workspace(), a.workspace()) ? 1 : 0;
                ofUser += a.user() != null && a.user().equals(s.user()) ? 1 : 0;
                total++;
            }
        }
        for (Map.Entry<String, String> e : admitted.entrySet()) {
            inWorkspace += e.getValue().equals(a.workspace()) ? 1 : 0;
            ofUser += a.user() != null && a.user().equals(admittedUsers.get(e.getKey())) ? 1 : 0;
            total++;
        }
        // the texts speak of the caller's own sessions only: never the worker's total, nor anyone else's
        if (policy.maxSessionsPerWorkspace() > 0 && inWorkspace >= policy.maxSessionsPerWorkspace()) {
            return Future.failedFuture(new WorkerException(ErrorCode.LIMIT_REACHED, "workspace " + a.workspace() + " has " + inWorkspace
                    + " active sessions, the most allowed (policy.maxSessionsPerWorkspace); stop one first"));
        }
        if (maxPerUser > 0 && ofUser >= maxPerUser) {
            return Future.failedFuture(new WorkerException(ErrorCode.LIMIT_REACHED, "you have " + ofUser
                    + " active sessions, the most allowed per user (policy.maxSessionsPerUser); stop one first"));
        }
        if (policy.maxSessionsTotal() > 0 && total >= policy.maxSessionsTotal()) {
            return Future.failedFuture(new WorkerException(ErrorCode.LIMIT_REACHED, "this worker has no room for more "
                    + "active sessions, the most allowed (policy.maxSessionsTotal) are running; try again later"));
        }
        admitted.put(a.sessionId(), a.workspace());
        if (a.user() != null) {
            admittedUsers.put(a.sessionId(), a.user());
        }
        vertx.setTimer(HOLD_MS, t -> admitted.remove(a.sessionId(), a.workspace()));
        return Future.succeededFuture();
    }

    /** The launch failed: its place is free again. */
    void release(String sessionId) {
        admitted.remove(sessionId);
    }

    /**
     * A stop of a session whose Job the cache does not show: if its launch is in flight (or timed
     * out and may yet create the Job) and the caller may see it, the Job is deleted when it appears.
     */
    void stopWhenLaunched(SessionRequest request) {
        String sessionId = request.sessionId();
        String launchingIn = admitted.get(sessionId);
        if (launchingIn != null && (request.admin() || launchingIn.equals(request.callerWorkspace()))) {
            stopOnArrival.add(sessionId);
            vertx.setTimer(HOLD_MS, t -> stopOnArrival.remove(sessionId));
        }
    }

    @Override
    public void jobSeen(Job job, String sessionId) {
        if (sessionId == null) {
            return;
        }
        admitted.remove(sessionId);
        if (stopOnArrival.remove(sessionId) && job.getMetadata().getDeletionTimestamp() == null) {
            String jobName = job.getMetadata().getName();
            LOG.info("session {}: deleting Job {}", sessionId, jobName);
            kube.deleteJob(jobName).onFailure(err -> LOG.warn("session {}: could not delete the Job of a stopped launch: {}",
                    sessionId, err.getMessage()));
        }
    }
}
