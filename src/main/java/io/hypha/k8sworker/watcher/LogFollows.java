package io.hypha.k8sworker.watcher;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.RejectedExecutionException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.dsl.LogWatch;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.kube.KubeOps;
import io.hypha.k8sworker.kube.SessionMeta;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Live logs of sessions (get_logs with follow): one Kubernetes log stream per follower, read as the
 * container writes it and handed out in batches of lines when the bridge asks for them.
 *
 * <p>Each follower buffers at most {@link #BUFFERED_LINES} lines; while that buffer is full, the
 * write fabric8 hands it waits, and fabric8 asks the API server for more only once it returns, so
 * a caller who reads slowly slows the stream instead of filling the heap. A follow ends when the
 * stream does (a kubelet closes it when the container exits), a little after the watcher sees the
 * pod end or go (kwok's fake kubelet never closes it), when the bridge closes it, or when nobody
 * asked for its lines for {@link #IDLE_MS}. All state lives on the watcher's context.
 */
final class LogFollows implements SessionCache.Listener {

    /** Lines held per follower before the stream is slowed down. */
    static final int BUFFERED_LINES = 1000;
    /** Longer lines are cut into pieces of this many bytes. */
    static final int MAX_LINE_BYTES = 16 * 1024;
    /** Followers at once; more are refused as busy, as log reads beyond the log executor are. */
    static final int MAX_FOLLOWERS = 100;
    /** How long a request for lines waits for one before it is answered with none (the bridge asks again). */
    static final long WAIT_MS = 10_000;
    /** A follower nobody asked for lines for this long is closed (its caller is gone). */
    static final long IDLE_MS = 180_000;
    /** After the pod ended, lines still in flight are awaited this long before the follow ends. */
    static final long POD_END_GRACE_MS = 2_000;

    private static final Logger LOG = LoggerFactory.getLogger(LogFollows.class);

    private final Vertx vertx;
    private final Context context;
    private final KubeOps kube;
    private final Map<String, Follower> followers = new HashMap<>();

    LogFollows(Vertx vertx, Context context, KubeOps kube) {
        this.vertx = vertx;
        this.context = context;
        this.kube = kube;
    }

    /** Opens a follow of the session's newest pod; completes with its id. The caller's rights were checked. */
    Future<JsonObject> open(SessionView session, int tailLines) {
        Pod pod = session.latestPod().orElseThrow(() -> new WorkerException(ErrorCode.CONFLICT,
                "session " + session.sessionId() + " has no pod yet; follow its logs once it has started"));
        if (followers.size() >= MAX_FOLLOWERS) {
            return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE,
                    "get_logs: the worker follows as many logs as it may at once (" + MAX_FOLLOWERS + "); try again later"));
        }
        String podName = pod.getMetadata().getName();
        Follower f = new Follower(UUID.randomUUID().toString(), podName);
        followers.put(f.id, f);
        return kube.followContainerLog(podName, SessionMeta.MAIN_CONTAINER, tailLines, f.sink)
                .transform(ar -> {
                    if (ar.failed()) {
                        f.close("it could not be opened");
                        Throwable cause = ar.cause();
                        if (cause instanceof RejectedExecutionException) {
                            return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE,
                                    "get_logs: the worker is reading as many logs as it may at once (logs.threads, logs.queue); try again shortly"));
                        }
                        LOG.info("could not follow the log of pod {}: {}", podName, cause.toString());
                        return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE,
                                "get_logs: the session's log cannot be followed right now; try again shortly"));
                    }
                    LogWatch watch = ar.result();
                    if (f.closed) {
                        watch.close();
                        return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE, "get_logs: the follow was closed while it opened"));
                    }
                    f.watch = watch;
                    watch.onClose().whenComplete((t, err) -> context.runOnContext(v -> f.streamEnded()));
                    if (podEnded(pod)) {
                        f.podEnded();
                    }
                    f.armIdle();
                    return Future.succeededFuture(new JsonObject().put("follow", f.id).put("pod", podName));
                });
    }

    /** Up to {@code max} lines, waiting a while for the first; {@code end} once no more will come. */
    Future<JsonObject> next(String id, int max) {
        Follower f = followers.get(id);
        if (f == null) {
            return Future.succeededFuture(new JsonObject().put("lines", new JsonArray()).put("end", true));
        }
        return f.next(Math.max(1, Math.min(max, BUFFERED_LINES)));
    }

    void close(String id) {
        Follower f = followers.get(id);
        if (f != null) {
            f.close("closed by the caller");
        }
    }

    /** The watcher saw a pod change: a follow of a pod that ended winds down. */
    @Override
    public void podSeen(Pod pod, String sessionId) {
        if (followers.isEmpty() || !podEnded(pod)) {
            return;
        }
        podEnded(pod.getMetadata().getName());
    }

    @Override
    public void podGone(Pod pod) {
        podEnded(pod.getMetadata().getName());
    }

    private void podEnded(String podName) {
        for (Follower f : new ArrayList<>(followers.values())) {
            if (f.podName.equals(podName)) {
                f.podEnded();
            }
        }
    }

    void closeAll() {
        new ArrayList<>(followers.values()).forEach(f -> f.close("the worker stops"));
    }

    int size() {
        return followers.size();
    }

    private static boolean podEnded(Pod pod) {
        String phase = SessionView.phase(pod);
        return pod.getMetadata().getDeletionTimestamp() != null || "Succeeded".equals(phase) || "Failed".equals(phase);
    }

    private final class Follower {
        final String id;
        final String podName;
        final LineSink sink = new LineSink(this);
        LogWatch watch;
        boolean closed;
        boolean ended;
        Promise<JsonObject> waiting;
        int waitingMax;
        long waitTimer = -1;
        long idleTimer = -1;
        long endTimer = -1;

        Follower(String id, String podName) {
            this.id = id;
            this.podName = podName;
        }

        Future<JsonObject> next(int max) {
            armIdle();
            if (waiting != null) {
                return Future.failedFuture(new WorkerException(ErrorCode.CONFLICT, "get_logs: lines of this follow are already being awaited"));
            }
            List<String> lines = sink.take(max);
            if (!lines.isEmpty() || ended) {
                return Future.succeededFuture(batch(lines, ended && sink.isEmpty()));
            }
            waiting = Promise.promise();
            waitingMax = max;
            waitTimer = vertx.setTimer(WAIT_MS, t -> {
                waitTimer = -1;
                answer();
            });
            return waiting.future();
        }

        /** Lines arrived, or the stream ended: a waiting request gets them. */
        void answer() {
            if (waiting == null) {
                return;
            }
            List<String> lines = sink.take(waitingMax);
            if (lines.isEmpty() && !ended && waitTimer >= 0) {
                return;
            }
            Promise<JsonObject> p = waiting;
            waiting = null;
            if (waitTimer >= 0) {
                vertx.cancelTimer(waitTimer);
                waitTimer = -1;
            }
            p.tryComplete(batch(lines, ended && sink.isEmpty()));
        }

        private JsonObject batch(List<String> lines, boolean end) {
            if (end) {
                close("the stream ended");
            }
            return new JsonObject().put("lines", new JsonArray(new ArrayList<>(lines))).put("end", end);
        }

        void streamEnded() {
            if (!ended) {
                ended = true;
                sink.flushPartialLine();
                answer();
            }
        }

        void podEnded() {
            if (endTimer < 0 && !ended) {
                endTimer = vertx.setTimer(POD_END_GRACE_MS, t -> streamEnded());
            }
        }

        void armIdle() {
            if (closed) {
                return;
            }
            if (idleTimer >= 0) {
                vertx.cancelTimer(idleTimer);
            }
            idleTimer = vertx.setTimer(IDLE_MS, t -> {
                idleTimer = -1;
                if (waiting == null) {
                    close("nobody asked for its lines for " + IDLE_MS / 1000 + " s");
                }
            });
        }

        void close(String reason) {
            if (closed) {
                return;
            }
            LOG.info("follow of the log of pod {} ended: {}", podName, reason);
            closed = true;
            ended = true;
            followers.remove(id);
            for (long t : new long[] {waitTimer, idleTimer, endTimer}) {
                if (t >= 0) {
                    vertx.cancelTimer(t);
                }
            }
            sink.release();
            if (waiting != null) {
                Promise<JsonObject> p = waiting;
                waiting = null;
                p.tryComplete(new JsonObject().put("lines", new JsonArray()).put("end", true));
            }
            if (watch != null) {
                LogWatch w = watch;
                // closing cancels the HTTP stream; not on the event loop, in case the client waits for it
                vertx.executeBlocking(() -> {
                    w.close();
                    return null;
                }, false);
            }
        }

        void linesArrived() {
            context.runOnContext(v -> answer());
        }
    }

    /**
     * Where fabric8 writes the stream: bytes cut into lines, at most {@link #BUFFERED_LINES} held.
     * Written from fabric8's threads, read on the watcher's context.
     */
    private static final class LineSink extends OutputStream {
        private final Follower owner;
        private final ArrayDeque<String> lines = new ArrayDeque<>();
        private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
        private boolean released;

        LineSink(Follower owner) {
            this.owner = owner;
        }

        @Override
        public void write(int b) throws java.io.IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) throws java.io.IOException {
            boolean added = false;
            for (int i = off; i < off + len; i++) {
                if (b[i] == '\n') {
                    added |= offer(partial.toString(StandardCharsets.UTF_8));
                    partial.reset();
                } else {
                    partial.write(b[i]);
                    if (partial.size() >= MAX_LINE_BYTES) {
                        added |= offer(partial.toString(StandardCharsets.UTF_8));
                        partial.reset();
                    }
                }
            }
            if (added) {
                owner.linesArrived();
            }
        }

        /** Adds a line, waiting while the buffer is full: the wait is what slows the stream. */
        private boolean offer(String line) throws java.io.IOException {
            synchronized (this) {
                while (lines.size() >= BUFFERED_LINES && !released) {
                    // the reader may be waiting for this very buffer to be looked at
                    owner.linesArrived();
                    try {
                        wait(1000);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new java.io.InterruptedIOException("log follow interrupted");
                    }
                }
                if (released) {
                    throw new java.io.IOException("log follow closed");
                }
                lines.add(line);
                return true;
            }
        }

        synchronized List<String> take(int max) {
            List<String> out = new ArrayList<>(Math.min(max, lines.size()));
            while (out.size() < max && !lines.isEmpty()) {
                out.add(lines.poll());
            }
            if (!out.isEmpty()) {
                notifyAll();
            }
            return out;
        }

        synchronized boolean isEmpty() {
            return lines.isEmpty();
        }

        /** A last line without its newline, once the stream has ended. */
        synchronized void flushPartialLine() {
            if (partial.size() > 0 && !released) {
                lines.add(partial.toString(StandardCharsets.UTF_8));
                partial.reset();
            }
        }

        synchronized void release() {
            released = true;
            lines.clear();
            notifyAll();
        }
    }
}
