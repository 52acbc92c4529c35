package io.hypha.rpc;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vertx.core.Future;
import io.vertx.core.Vertx;

/**
 * A generator of ours held by a consumer: its {@code next} and {@code close} are callbacks of
 * one session, so only that session's target may call them. One item is produced per request.
 */
final class ServedGenerator {

    private static final Logger LOG = LoggerFactory.getLogger(HyphaClient.class);

    private final CallSessions calls;
    private final Vertx vertx;
    private final Duration idleTimeout;
    final CallSession session;
    final String nextId;
    final String closeId;
    final RpcGenerator source;
    boolean producing;
    boolean finished;
    long idleTimer = -1;

    ServedGenerator(CallSessions calls, Vertx vertx, Duration idleTimeout, CallSession session, String objectId, RpcGenerator source) {
        this.calls = calls;
        this.vertx = vertx;
        this.idleTimeout = idleTimeout;
        this.session = session;
        this.nextId = objectId;
        this.closeId = objectId + ":close";
        this.source = source;
    }

    Future<Object> next() {
        if (finished) {
            return Future.succeededFuture(stopIteration());
        }
        if (producing) {
            return Future.failedFuture(new IllegalStateException("the previous item of this generator is still being produced"));
        }
        producing = true;
        cancelIdleTimer();
        Future<Object> item;
        try {
            item = source.next();
        } catch (RuntimeException e) {
            item = Future.failedFuture(e);
        }
        return item.transform(ar -> {
            producing = false;
            if (ar.failed()) {
                finish(true);
                return Future.failedFuture(ar.cause());
            }
            if (ar.result() == RpcGenerator.END) {
                finish(false);
                return Future.succeededFuture(stopIteration());
            }
            if (!finished) {
                armIdleTimer();
            }
            return Future.succeededFuture(ar.result());
        });
    }

    /** Ends the stream: the callbacks go, and the source is closed unless it ended by itself. */
    void finish(boolean closeSource) {
        if (finished) {
            return;
        }
        finished = true;
        cancelIdleTimer();
        session.callbacks.remove(nextId);
        session.callbacks.remove(closeId);
        session.generators.remove(this);
        if (session.callbacks.isEmpty() && session.promise == null) {
            calls.sessions.remove(session.id);
        }
        if (closeSource) {
            try {
                source.close().onFailure(err -> LOG.debug("closing a generator failed: {}", err.getMessage()));
            } catch (RuntimeException e) {
                LOG.debug("closing a generator failed: {}", e.toString());
            }
        }
    }

    void armIdleTimer() {
        cancelIdleTimer();
        idleTimer = vertx.setTimer(idleTimeout.toMillis(), t -> {
            idleTimer = -1;
            if (!producing && !finished) {
                LOG.info("closing a generator {} did not ask from for {} s", session.targetId,
                        idleTimeout.toSeconds());
                finish(true);
            }
        });
    }

    void cancelIdleTimer() {
        if (idleTimer >= 0) {
            vertx.cancelTimer(idleTimer);
            idleTimer = -1;
        }
    }

    private static Map<String, Object> stopIteration() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_rtype", "stop_iteration");
        return m;
    }
}
