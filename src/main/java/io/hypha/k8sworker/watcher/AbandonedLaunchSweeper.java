package io.hypha.k8sworker.watcher;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.hypha.k8sworker.kube.KubeOps;
import io.vertx.core.Vertx;

/**
 * Deletes our Jobs that have stayed suspended for kubernetes.suspendedGraceSeconds since this
 * worker first saw them: a launch creates its Job suspended and resumes it within moments, so one
 * still suspended was left by a worker that died mid-launch (its Secret, owned by the Job, goes
 * too). Counting from our own first sighting, not the Job's creation time, keeps clocks out of it
 * and gives another replica's launch the whole grace; the deletion is conditional on the resource
 * version we saw, so a Job resumed meanwhile is left alone. With several replicas, only the leader
 * sweeps.
 */
final class AbandonedLaunchSweeper implements SessionCache.Listener {

    private static final Logger LOG = LoggerFactory.getLogger(AbandonedLaunchSweeper.class);

    private final Vertx vertx;
    private final SessionCache cache;
    private final KubeOps kube;
    private final long graceSeconds;
    /** Our Jobs seen suspended (a launch in progress, or one a killed worker left): name to when first seen, in nanos. */
    private final Map<String, Long> suspendedSince = new HashMap<>();
    /** Suspended Jobs whose deletion is in flight, so that a sweep does not repeat it. */
    private final Set<String> deleting = new HashSet<>();
    private long timer = -1;
    private boolean leading = true;

    AbandonedLaunchSweeper(Vertx vertx, SessionCache cache, KubeOps kube, long graceSeconds) {
        this.vertx = vertx;
        this.cache = cache;
        this.kube = kube;
        this.graceSeconds = graceSeconds;
    }

    /** Sweeps a few times per grace period (between every 0.5 and 10 s). */
    void start() {
        long graceMs = graceSeconds * 1000L;
        timer = vertx.setPeriodic(Math.max(500, Math.min(10_000, graceMs / 4)), t -> sweep());
    }

    /** Only a leading replica sweeps; the others keep counting, so that a new leader knows how long each Job has waited. */
    void leading(boolean leading) {
        this.leading = leading;
    }

    void stop() {
        vertx.cancelTimer(timer);
    }

    @Override
    public void jobSeen(Job job, String sessionId) {
        String name = job.getMetadata().getName();
        if (job.getSpec() != null && Boolean.TRUE.equals(job.getSpec().getSuspend())) {
            suspendedSince.putIfAbsent(name, System.nanoTime());
        } else {
            suspendedSince.remove(name);
        }
    }

    @Override
    public void jobGone(Job job, String sessionId) {
        suspendedSince.remove(job.getMetadata().getName());
    }

    private void sweep() {
        if (!leading) {
            return;
        }
        long graceNanos = graceSeconds * 1_000_000_000L;
        long now = System.nanoTime();
        for (Map.Entry<String, Long> e : new ArrayList<>(suspendedSince.entrySet())) {
            String name = e.getKey();
            Job job = cache.job(name);
            if (job == null || now - e.getValue() < graceNanos || job.getMetadata().getDeletionTimestamp() != null
                    || !deleting.add(name)) {
                continue;
            }
            String sessionId = SessionCache.sessionId(job);
            LOG.warn("session {}: Job {} has been suspended for {} s, its launch was interrupted; deleting it", sessionId, name,
                    (now - e.getValue()) / 1_000_000_000L);
            kube.deleteSuspendedJob(name, job.getMetadata().getResourceVersion()).onComplete(ar -> {
                deleting.remove(name);
                if (ar.failed()) {
                    LOG.warn("session {}: could not delete suspended Job {}: {}", sessionId, name, ar.cause().getMessage());
                }
            });
        }
    }
}
