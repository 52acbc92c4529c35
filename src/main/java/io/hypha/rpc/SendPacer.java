package io.hypha.rpc;

import java.util.ArrayDeque;
import java.util.Map;
import java.util.function.Function;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;

/**
 * Keeps what a client sends under the server's per-client message rate (a token bucket of
 * {@link ConnectOptions#getMaxSendRate()} per second, {@link ConnectOptions#getSendBurst()} deep):
 * Hypha disconnects a client that goes over it. Frames beyond the rate wait in order, at most
 * {@link ConnectOptions#getMaxQueuedSends()} of them. Runs on the connection's context.
 */
final class SendPacer {

    private static final Logger LOG = LoggerFactory.getLogger(WebSocketConnection.class);

    private final Vertx vertx;
    private final ConnectOptions options;
    private final Function<Buffer, Future<Void>> sendNow;
    private final ArrayDeque<Map.Entry<Buffer, Promise<Void>>> waiting = new ArrayDeque<>();
    private long timer = -1;
    private double tokens;
    private long tokensAtNanos = System.nanoTime();
    private HyphaException closed;

    SendPacer(Vertx vertx, ConnectOptions options, Function<Buffer, Future<Void>> sendNow) {
        this.vertx = vertx;
        this.options = options;
        this.sendNow = sendNow;
        this.tokens = options.getSendBurst();
    }

    Future<Void> send(Buffer frame) {
        if (waiting.isEmpty() && takeToken()) {
            return sendNow.apply(frame);
        }
        if (waiting.size() >= options.getMaxQueuedSends()) {
            LOG.warn("dropping an outgoing message: {} are already waiting for the send rate", waiting.size());
            return Future.failedFuture(new HyphaException("too many outgoing messages waiting; try again later"));
        }
        Promise<Void> sent = Promise.promise();
        waiting.add(Map.entry(frame, sent));
        schedule();
        return sent.future();
    }

    /** The connection is over: what still waits fails with {@code cause}. */
    void close(HyphaException cause) {
        closed = cause;
        if (timer >= 0) {
            vertx.cancelTimer(timer);
            timer = -1;
        }
        Map.Entry<Buffer, Promise<Void>> next;
        while ((next = waiting.poll()) != null) {
            next.getValue().tryFail(cause);
        }
    }

    private boolean takeToken() {
        long now = System.nanoTime();
        tokens = Math.min(options.getSendBurst(), tokens + (now - tokensAtNanos) / 1e9 * options.getMaxSendRate());
        tokensAtNanos = now;
        if (tokens >= 1) {
            tokens -= 1;
            return true;
        }
        return false;
    }

    private void schedule() {
        if (timer >= 0 || closed != null) {
            return;
        }
        long delayMs = Math.max(1, (long) Math.ceil(1000 / options.getMaxSendRate()));
        timer = vertx.setTimer(delayMs, t -> {
            timer = -1;
            while (!waiting.isEmpty() && takeToken()) {
                Map.Entry<Buffer, Promise<Void>> next = waiting.poll();
                sendNow.apply(next.getKey()).onComplete(next.getValue());
            }
            if (!waiting.isEmpty()) {
                schedule();
            }
        });
    }
}
