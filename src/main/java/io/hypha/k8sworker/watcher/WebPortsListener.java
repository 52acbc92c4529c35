package io.hypha.k8sworker.watcher;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;

/** Tells the web ports' {@link PortWatch} of every change to a session, as the session cache sees it. */
final class WebPortsListener implements SessionCache.Listener {

    private final SessionCache cache;
    private final PortWatch ports;

    WebPortsListener(SessionCache cache, PortWatch ports) {
        this.cache = cache;
        this.ports = ports;
    }

    @Override
    public void jobSeen(Job job, String sessionId) {
        changed(sessionId);
    }

    @Override
    public void podSeen(Pod pod, String sessionId) {
        changed(sessionId);
    }

    @Override
    public void jobGone(Job job, String sessionId) {
        ports.sessionGone(sessionId);
    }

    private void changed(String sessionId) {
        cache.view(sessionId).ifPresent(s -> ports.sessionChanged(s.job(), s.latestPod().orElse(null), s.status()));
    }
}
