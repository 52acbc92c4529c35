package io.hypha.rpc;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;

/**
 * Our outgoing calls: each is a {@link CallSession} with its reply channel, timeout and the
 * callbacks and generators passed in it, until it is answered, times out, or the connection ends.
 */
final class CallSessions {

    private static final long SESSION_IDLE_NANOS = TimeUnit.MINUTES.toNanos(10);

    private final HyphaClient client;
    private final Vertx vertx;
    private final ConnectOptions options;
    private final WireValues codec;
    private final ChunkedSender chunkedSender;
    final Map<String, CallSession> sessions = new HashMap<>();
    private long gcTimer = -1;

    CallSessions(HyphaClient client, Vertx vertx, ConnectOptions options, WireValues codec) {
        this.client = client;
        this.vertx = vertx;
        this.options = options;
        this.codec = codec;
        this.chunkedSender = new ChunkedSender(client, this);
    }

    /** Sessions that only hold callbacks are collected when idle from now on. */
    void start() {
        gcTimer = vertx.setPeriodic(TimeUnit.MINUTES.toMillis(5), t -> collectIdleSessions());
    }

    /** The connection ended for good: every call fails with the reason. */
    void close(String reason) {
        vertx.cancelTimer(gcTimer);
        failSessions(s -> true, reason);
    }

    CallSession get(String id) {
        return sessions.get(id);
    }

    /** Whether one of our calls still waits for a reply from {@code sender}. */
    boolean awaitsReplyFrom(String sender) {
        for (CallSession s : sessions.values()) {
            if (s.promise != null && sender.equals(HyphaClient.qualify(s.targetId, client.workspace()))) {
                return true;
            }
        }
        return false;
    }

    /** How many generators this client serves right now. For tests. */
    int servedGeneratorCount() {
        return sessions.values().stream().mapToInt(s -> s.generators.size()).sum();
    }

    /** A session that goes takes the generators it serves with it. */
    void releaseGenerators(CallSession s) {
        for (ServedGenerator g : new ArrayList<>(s.generators)) {
            g.finish(true);
        }
    }

    /** The server could not deliver a call of ours: it fails now. */
    void peerNotFound(String sessionId, Object error) {
        CallSession s = sessions.remove(sessionId);
        if (s != null) {
            cancelTimer(s);
            if (s.promise != null) {
                s.promise.tryFail(new RemoteException(String.valueOf(error), ""));
            }
        }
    }

    void failSessions(Predicate<CallSession> which, String reason) {
        for (Iterator<CallSession> it = sessions.values().iterator(); it.hasNext(); ) {
            CallSession s = it.next();
            if (!which.test(s)) {
                continue;
            }
            it.remove();
            cancelTimer(s);
            releaseGenerators(s);
            if (s.promise != null) {
                s.promise.tryFail(new HyphaException.ConnectionClosed(reason + " (" + s.description + ")"));
            }
        }
    }

    private void collectIdleSessions() {
        long now = System.nanoTime();
        // sessions that only hold callbacks (results, fire-and-forget) live until idle for 10 minutes
        List<CallSession> idle = new ArrayList<>();
        for (CallSession s : sessions.values()) {
            if (s.promise == null && now - s.lastActivityNanos > SESSION_IDLE_NANOS) {
                idle.add(s);
            }
        }
        for (CallSession s : idle) {
            sessions.remove(s.id);
            releaseGenerators(s);
        }
    }

    /**
     * Calls the function {@code encoded} (an {@code _rtype: method} map). An answered function
     * completes with its reply, or fails at the timeout; an unanswered one completes once sent.
     */
    @SuppressWarnings("unchecked")
    Future<Object> call(Map<String, Object> encoded, String remoteParent, List<?> args, Map<String, ?> kwargs,
                        Duration timeout) {
        if (client.state() == HyphaClient.ConnectionState.CLOSED) {
            return Future.failedFuture(new HyphaException.ConnectionClosed("Connection is closed"
                    + (client.closeCause() == null ? "" : ": " + client.closeCause().getMessage())));
        }
        String target = (String) encoded.get("_rtarget");
        String path = (String) encoded.get("_rmethod");
        Object mode = encoded.get("_rpromise");
        boolean withPromise = "*".equals(mode) || Boolean.TRUE.equals(mode);
        CallSession session = new CallSession(HyphaClient.newId(22), target);
        session.description = target + ":" + path;
        List<Object> all = new ArrayList<>(args);
        if (kwargs != null && !kwargs.isEmpty()) {
            all.add(kwargs);
        }
        List<Object> encodedArgs;
        try {
            encodedArgs = (List<Object>) codec.encode(all, session);
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
        sessions.put(session.id, session);

        CallFrame frame = CallFrame.call(client.fullClientId(), target, path, remoteParent, encodedArgs,
                kwargs != null && !kwargs.isEmpty());
        if (!withPromise) {
            return send(frame, target, remoteParent).transform(ar -> {
                if (session.callbacks.isEmpty()) {
                    sessions.remove(session.id);
                }
                return ar.succeeded() ? Future.succeededFuture() : Future.failedFuture(ar.cause());
            });
        }
        session.timeoutMs = (timeout != null ? timeout : options.getMethodTimeout()).toMillis();
        session.promise = Promise.promise();
        frame.expectReply(client.fullClientId(), session.id, "*".equals(mode), session.timeoutMs / 2000.0);
        send(frame, target, remoteParent).onComplete(ar -> {
            if (ar.failed()) {
                sessions.remove(session.id);
                session.promise.tryFail(ar.cause());
            } else if (sessions.containsKey(session.id)) {
                // the timer starts once the whole message is out, so large uploads do not eat the timeout
                resetTimer(session);
            }
        });
        return session.promise.future();
    }

    void resetTimer(CallSession s) {
        s.lastActivityNanos = System.nanoTime();
        if (s.promise == null) {
            return;
        }
        cancelTimer(s);
        s.timerId = vertx.setTimer(s.timeoutMs, t -> {
            if (sessions.remove(s.id) != null) {
                s.promise.tryFail(new HyphaException.Timeout("Method call timed out: " + s.description));
            }
        });
    }

    void cancelTimer(CallSession s) {
        if (s.timerId >= 0) {
            vertx.cancelTimer(s.timerId);
            s.timerId = -1;
        }
    }

    private Future<Void> send(CallFrame frame, String target, String parentKey) {
        Buffer packed;
        try {
            packed = frame.pack();
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
        return chunkedSender.send(packed, target, parentKey);
    }


    @SuppressWarnings("unchecked")
    void handleReply(CallSession session, String kind, Map<String, Object> message, String remoteWs) {
        if ("heartbeat".equals(kind)) {
            resetTimer(session);
            return;
        }
        sessions.remove(session.id);
        cancelTimer(session);
        if (session.promise == null) {
            return;
        }
        List<Object> args = message.get("args") instanceof List<?> l ? (List<Object>) l : List.of();
        // a reply is a value for our own code, which decides what to call; it may name any client
        Object value = args.isEmpty() ? null : codec.decode(args.get(0), null, remoteWs, null);
        if ("resolve".equals(kind)) {
            session.promise.tryComplete(value);
        } else if (value instanceof RemoteException re) {
            session.promise.tryFail(re);
        } else {
            session.promise.tryFail(new RemoteException(String.valueOf(value), ""));
        }
    }

}
