package io.hypha.k8sworker.watcher;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.RejectedExecutionException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.api.model.Pod;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.kube.KubeOps;
import io.hypha.k8sworker.kube.SessionMeta;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The session queries and commands: list, get, stop, stop all, replace a daemon app's older
 * sessions, run a command in a session's pod. A caller sees the sessions of its own workspace (an
 * admin caller, the app controller, sees all); another workspace's session is answered as unknown.
 */
final class SessionCommands {

    private static final Logger LOG = LoggerFactory.getLogger(SessionCommands.class);

    private final SessionCache cache;
    private final Admissions admissions;
    private final KubeOps kube;

    SessionCommands(SessionCache cache, Admissions admissions, KubeOps kube) {
        this.cache = cache;
        this.admissions = admissions;
        this.kube = kube;
    }

    /** The caller may see sessions of its own workspace; an admin caller (the app controller) may see all. */
    private static boolean visibleTo(SessionView s, SessionRequest request) {
        return request.admin() || Objects.equals(s.workspace(), request.callerWorkspace());
    }

    /** The session the request names, if the caller may see it; otherwise an unknown session. */
    SessionView owned(SessionRequest request) {
        String sessionId = request.sessionId();
        SessionView s = cache.view(sessionId).orElseThrow(() -> new WorkerException(ErrorCode.UNKNOWN_SESSION, "unknown session: " + sessionId));
        if (!visibleTo(s, request)) {
            // the same answer as for an unknown id: other workspaces learn nothing
            throw new WorkerException(ErrorCode.UNKNOWN_SESSION, "unknown session: " + sessionId);
        }
        return s;
    }

    JsonArray list(SessionRequest request) {
        String workspace = request.workspaceFilter();
        JsonArray out = new JsonArray();
        cache.sessions().stream()
                .filter(s -> s.sessionId() != null && visibleTo(s, request))
                .filter(s -> workspace == null || workspace.equals(s.workspace()))
                .sorted((a, b) -> String.valueOf(a.annotation(SessionMeta.CREATED_AT)).compareTo(String.valueOf(b.annotation(SessionMeta.CREATED_AT))))
                .forEach(s -> out.add(s.toInfo()));
        return out;
    }

    Future<Void> stop(SessionRequest request) {
        Optional<SessionView> s = cache.view(request.sessionId());
        if (s.isEmpty()) {
            admissions.stopWhenLaunched(request);
            return Future.succeededFuture();
        }
        if (!visibleTo(s.get(), request)) {
            // the same answer as for an id that does not exist (above): other workspaces learn nothing
            return Future.succeededFuture();
        }
        return delete(s.get());
    }

    private Future<Void> delete(SessionView s) {
        LOG.info("session {}: deleting Job {}", s.sessionId(), s.jobName());
        return kube.deleteJob(s.jobName()).mapEmpty();
    }

    Future<JsonObject> stopAll() {
        List<SessionView> all = cache.sessions();
        List<Future<Void>> deletions = all.stream().map(this::delete).toList();
        return Future.join(deletions).transform(ar -> Future.succeededFuture(new JsonObject().put("stopped", all.size())));
    }

    /**
     * Stops the sessions of the same daemon app in the same workspace that were created before this
     * one: the newest start wins, so concurrent starts of one app also end with a single session.
     */
    Future<JsonObject> replaceDaemon(String sessionId, String workspace, String daemonApp) {
        Optional<SessionView> current = cache.view(sessionId);
        if (current.isEmpty() || daemonApp == null) {
            return Future.succeededFuture(new JsonObject().put("replaced", new JsonArray()));
        }
        Instant createdAt = createdAt(current.get());
        List<SessionView> older = cache.sessions().stream()
                .filter(s -> s.sessionId() != null && !s.sessionId().equals(sessionId))
                .filter(s -> workspace.equals(s.workspace()) && daemonApp.equals(s.annotation(SessionMeta.DAEMON_APP)))
                .filter(s -> createdAt(s).isBefore(createdAt))
                .toList();
        JsonArray replaced = new JsonArray();
        List<Future<Void>> deletions = new ArrayList<>();
        for (SessionView s : older) {
            LOG.info("daemon app {}: session {} replaces session {}", daemonApp, sessionId, s.sessionId());
            replaced.add(s.sessionId());
            deletions.add(delete(s));
        }
        return Future.join(new ArrayList<>(deletions)).transform(x -> Future.succeededFuture(new JsonObject().put("replaced", replaced)));
    }

    private static Instant createdAt(SessionView s) {
        try {
            return Instant.parse(s.annotation(SessionMeta.CREATED_AT));
        } catch (RuntimeException e) {
            return Instant.EPOCH;
        }
    }

    Future<JsonObject> exec(SessionRequest request, JsonObject body) {
        SessionView s = owned(request);
        Pod pod = s.latestPod().filter(p -> "Running".equals(SessionView.phase(p)) && p.getMetadata().getDeletionTimestamp() == null)
                .orElseThrow(() -> new WorkerException(ErrorCode.INVALID_REQUEST, "session " + request.sessionId()
                        + " has no running pod to execute in (status: " + s.status() + ")"));
        List<String> command = body.getJsonArray("command").stream().map(String::valueOf).toList();
        return kube.exec(pod.getMetadata().getName(), SessionMeta.MAIN_CONTAINER, command, body.getInteger("timeoutSeconds"),
                        body.getInteger("maxBytes"))
                .recover(err -> {
                    if (err instanceof RejectedExecutionException) {
                        return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE,
                                "execute: the worker is reading as many logs and opening as many commands as it may at once "
                                        + "(logs.threads, logs.queue); try again shortly"));
                    }
                    return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE, "execute: Kubernetes refused the command: "
                            + err.getMessage()));
                })
                .map(r -> new JsonObject().put("pod", pod.getMetadata().getName()).put("exitCode", r.exitCode())
                        .put("stdout", r.stdout()).put("stderr", r.stderr()).put("truncated", r.truncated()).put("timedOut", r.timedOut()));
    }
}
