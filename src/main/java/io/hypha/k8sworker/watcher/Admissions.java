package io.hypha.k8sworker.watcher;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
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
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

/**
 * Room for new sessions under policy.maxSessionsPerWorkspace, maxSessionsPerUser and
 * maxSessionsTotal. A place is held from the admission until the session's Job shows in the cache
 * (or the launch gives it back, or {@link #HOLD_MS} pass), so concurrent starts cannot overshoot;
 * the watcher is the only one deciding, one request at a time. A user's sessions are known from
 * their Jobs' annotation, so a restarted worker counts them.
 *
 * <p>Other replicas admit starts too, which this one learns of only when their Jobs show. So a
 * Job is created suspended, and when it first shows here it is counted again, against the Jobs
 * already in the cache: exactly those created before it, since the informer gets Jobs in the order
 * the API server stored them. A start that would pass a limit so is refused and its Job deleted
 * before any pod ran ({@link #verdict}); of two concurrent starts, the later one loses. A start
 * that lost may still be counted by a third for a moment, which may refuse that one too: limits are
 * never passed, at the price of an occasional refusal under contention.
 */
final class Admissions implements SessionCache.Listener {

    /** How long room for a launch is held if neither its Job appears nor the launch reports failure. */
    static final long HOLD_MS = 120_000;

    private static final Logger LOG = LoggerFactory.getLogger(Admissions.class);

    private final Vertx vertx;
    private final WorkerConfig config;
    private final SessionCache cache;
    private final KubeOps kube;
    /** Admitted starts whose Job the informer has not shown yet: each holds a place. */
    private final Set<String> unseen = new HashSet<>();
    /** Admitted sessions stopped before their Job appeared: the Job is deleted when it does. */
    private final Set<String> stopOnArrival = new HashSet<>();
    /** Admitted starts (their workspace, user, whether user-limited), until their await takes the verdict or {@link #HOLD_MS} pass. */
    private final Map<String, Admission> admissions = new HashMap<>();
    /** Each admitted start's count when its Job first showed: nothing when within the limits, else the refusal. */
    private final Map<String, Optional<WorkerException>> verdicts = new HashMap<>();
    /** Starts waiting for their Job to show, to learn their verdict. */
    private final Map<String, Promise<Void>> awaitingVerdict = new HashMap<>();

    Admissions(Vertx vertx, WorkerConfig config, SessionCache cache, KubeOps kube) {
        this.vertx = vertx;
        this.config = config;
        this.cache = cache;
        this.kube = kube;
    }

    Future<Void> admit(Admission a) {
        if (cache.view(a.sessionId()).isPresent() || unseen.contains(a.sessionId())) {
            return Future.failedFuture(new WorkerException(ErrorCode.CONFLICT, "a session with id " + a.sessionId() + " already exists"));
        }
        int[] counts = new int[3];
        for (SessionView s : cache.sessions()) {
            if (s.sessionId() != null && !unseen.contains(s.sessionId()) && s.occupiesSlot()) {
                count(counts, a, s.workspace(), s.user());
            }
        }
        for (String held : unseen) {
            Admission h = admissions.get(held);
            count(counts, a, h.workspace(), h.user());
        }
        Optional<WorkerException> refusal = overLimit(a, counts);
        if (refusal.isPresent()) {
            return Future.failedFuture(refusal.get());
        }
        admissions.put(a.sessionId(), a);
        unseen.add(a.sessionId());
        vertx.setTimer(HOLD_MS, t -> {
            if (admissions.remove(a.sessionId(), a)) {
                unseen.remove(a.sessionId());
                verdicts.remove(a.sessionId());
                Promise<Void> waiting = awaitingVerdict.remove(a.sessionId());
                if (waiting != null) {
                    waiting.tryFail(new WorkerException(ErrorCode.START_FAILED, "the session's Job did not show within "
                            + HOLD_MS / 1000 + " s"));
                }
            }
        });
        return Future.succeededFuture();
    }

    /** Counts one session against {@code a}'s limits: in its workspace, of its user, in all. */
    private static void count(int[] counts, Admission a, String workspace, String user) {
        counts[0] += Objects.equals(workspace, a.workspace()) ? 1 : 0;
        counts[1] += a.user() != null && a.user().equals(user) ? 1 : 0;
        counts[2]++;
    }

    /** The refusal when {@code counts} (others in the workspace, of the user, in all) leave no room for {@code a}. */
    private Optional<WorkerException> overLimit(Admission a, int[] counts) {
        WorkerConfig.Policy policy = config.policy();
        int maxPerUser = a.userLimited() ? config.callers().maxSessionsPerUser() : 0;
        // the texts speak of the caller's own sessions only: never the worker's total, nor anyone else's
        if (policy.maxSessionsPerWorkspace() > 0 && counts[0] >= policy.maxSessionsPerWorkspace()) {
            return Optional.of(new WorkerException(ErrorCode.LIMIT_REACHED, "workspace " + a.workspace() + " has " + counts[0]
                    + " active sessions, the most allowed (policy.maxSessionsPerWorkspace); stop one first"));
        }
        if (maxPerUser > 0 && counts[1] >= maxPerUser) {
            return Optional.of(new WorkerException(ErrorCode.LIMIT_REACHED, "you have " + counts[1]
                    + " active sessions, the most allowed per user (policy.maxSessionsPerUser); stop one first"));
        }
        if (policy.maxSessionsTotal() > 0 && counts[2] >= policy.maxSessionsTotal()) {
            return Optional.of(new WorkerException(ErrorCode.LIMIT_REACHED, "this worker has no room for more "
                    + "active sessions, the most allowed (policy.maxSessionsTotal) are running; try again later"));
        }
        return Optional.empty();
    }

    /**
     * The count of an admitted start when its Job first showed: succeeds if the start stays within
     * the limits, fails with the refusal if not; waits for the Job to show. A start whose admission
     * this worker no longer holds (it expired) goes through.
     */
    Future<Void> verdict(String sessionId) {
        Optional<WorkerException> decided = verdicts.remove(sessionId);
        if (decided == null && !unseen.contains(sessionId)) {
            Admission a = admissions.get(sessionId);
            decided = a == null ? Optional.empty() : countAtFirstSight(a);
        }
        if (decided != null) {
            admissions.remove(sessionId);
            return decided.<Future<Void>>map(Future::failedFuture).orElse(Future.succeededFuture());
        }
        return awaitingVerdict.computeIfAbsent(sessionId, k -> Promise.promise()).future();
    }

    /** {@code a} against the other slot-holding Jobs in the cache. */
    private Optional<WorkerException> countAtFirstSight(Admission a) {
        int[] counts = new int[3];
        for (SessionView s : cache.sessions()) {
            if (s.sessionId() != null && !s.sessionId().equals(a.sessionId()) && s.occupiesSlot()) {
                count(counts, a, s.workspace(), s.user());
            }
        }
        return overLimit(a, counts);
    }

    /** The launch failed: its place is free again. */
    void release(String sessionId) {
        unseen.remove(sessionId);
        admissions.remove(sessionId);
        verdicts.remove(sessionId);
    }

    /**
     * A stop of a session whose Job the cache does not show: if its launch is in flight (or timed
     * out and may yet create the Job) and the caller may see it, the Job is deleted when it appears.
     */
    void stopWhenLaunched(SessionRequest request) {
        String sessionId = request.sessionId();
        String launchingIn = unseen.contains(sessionId) ? admissions.get(sessionId).workspace() : null;
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
        if (unseen.remove(sessionId)) {
            Optional<WorkerException> verdict = countAtFirstSight(admissions.get(sessionId));
            Promise<Void> waiting = awaitingVerdict.remove(sessionId);
            if (waiting == null) {
                verdicts.put(sessionId, verdict);
            } else {
                admissions.remove(sessionId);
                verdict.ifPresentOrElse(waiting::fail, waiting::complete);
            }
        }
        if (stopOnArrival.remove(sessionId) && job.getMetadata().getDeletionTimestamp() == null) {
            String jobName = job.getMetadata().getName();
            LOG.info("session {}: deleting Job {}", sessionId, jobName);
            kube.deleteJob(jobName).onFailure(err -> LOG.warn("session {}: could not delete the Job of a stopped launch: {}",
                    sessionId, err.getMessage()));
        }
    }
}
