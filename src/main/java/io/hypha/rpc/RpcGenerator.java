package io.hypha.rpc;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.Objects;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.streams.ReadStream;

/**
 * A stream of values pulled one at a time: what a Java function returns to stream to its caller
 * (sent as {@code _rtype: "generator"}), and what a generator received from another peer is
 * ({@link RemoteGenerator}).
 *
 * <p>Back-pressure is the protocol's: the consumer asks for each item, and {@link #next()} is
 * called only after the previous item was delivered, so a producer makes an item only when it is
 * wanted. {@link #close()} is called when the consumer stops early, disconnects or stays silent
 * for {@link ConnectOptions#getGeneratorIdleTimeout()}; it releases what the producer holds.
 */
public interface RpcGenerator {

    /** What {@link #next()} completes with once the stream has ended. */
    Object END = new Object() {
        @Override
        public String toString() {
            return "RpcGenerator.END";
        }
    };

    /** The next item, or {@link #END}. Runs on the client's event loop for served generators: it must not block. */
    Future<Object> next();

    /** Stops the stream early and releases its resources; calling it again does nothing. */
    Future<Void> close();

    /** A producer over an iterator whose {@code next} does not block. */
    static RpcGenerator of(Iterator<?> items) {
        Objects.requireNonNull(items, "items");
        return new RpcGenerator() {
            @Override
            public Future<Object> next() {
                return Future.succeededFuture(items.hasNext() ? items.next() : END);
            }

            @Override
            public Future<Void> close() {
                return Future.succeededFuture();
            }
        };
    }

    /**
     * A producer over a Vert.x stream: it is paused and one item is fetched per request, so the
     * source is read only as fast as the consumer asks. {@code onClose} releases the source when
     * the consumer stops early.
     */
    static <T> RpcGenerator of(ReadStream<T> source, Runnable onClose) {
        return new ReadStreamGenerator<>(source, onClose);
    }

    /** A generator over a paused {@link ReadStream}, one {@code fetch(1)} per item asked. */
    final class ReadStreamGenerator<T> implements RpcGenerator {
        private final ReadStream<T> source;
        private final Runnable onClose;
        private final ArrayDeque<Object> arrived = new ArrayDeque<>();
        private Promise<Object> waiting;
        private boolean ended;
        private boolean closed;
        private Throwable failure;

        ReadStreamGenerator(ReadStream<T> source, Runnable onClose) {
            this.source = Objects.requireNonNull(source, "source");
            this.onClose = onClose;
            source.pause();
            source.handler(this::arrive);
            source.endHandler(v -> finish(null));
            source.exceptionHandler(this::finish);
        }

        private void arrive(T item) {
            Promise<Object> p;
            synchronized (this) {
                if (closed) {
                    return;
                }
                p = waiting;
                waiting = null;
                if (p == null) {
                    arrived.add(item);
                    return;
                }
            }
            p.tryComplete(item);
        }

        private void finish(Throwable error) {
            Promise<Object> p;
            synchronized (this) {
                if (ended) {
                    return;
                }
                ended = true;
                failure = error;
                p = waiting;
                waiting = null;
            }
            if (p != null) {
                if (error != null) {
                    p.tryFail(error);
                } else {
                    p.tryComplete(END);
                }
            }
        }

        @Override
        public Future<Object> next() {
            Promise<Object> p;
            synchronized (this) {
                if (!arrived.isEmpty()) {
                    return Future.succeededFuture(arrived.poll());
                }
                if (closed) {
                    return Future.succeededFuture(END);
                }
                if (ended) {
                    return failure != null ? Future.failedFuture(failure) : Future.succeededFuture(END);
                }
                if (waiting != null) {
                    return Future.failedFuture(new IllegalStateException("the previous item is still being produced"));
                }
                p = Promise.promise();
                waiting = p;
            }
            source.fetch(1);
            return p.future();
        }

        @Override
        public Future<Void> close() {
            Promise<Object> p;
            synchronized (this) {
                if (closed) {
                    return Future.succeededFuture();
                }
                closed = true;
                arrived.clear();
                p = waiting;
                waiting = null;
            }
            if (p != null) {
                p.tryComplete(END);
            }
            source.handler(null);
            if (onClose != null) {
                onClose.run();
            }
            return Future.succeededFuture();
        }
    }
}
