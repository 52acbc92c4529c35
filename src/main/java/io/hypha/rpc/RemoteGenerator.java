package io.hypha.rpc;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import io.vertx.core.Future;
import io.vertx.core.Promise;

/**
 * A generator of another peer ({@code _rtype: "generator"}): each {@link #next()} asks its owner
 * for one item; the owner's {@code stop_iteration} ends it. {@link #close()} before the end calls
 * the owner's close method so it releases what it holds; an error or timeout of a {@code next}
 * ends the stream and closes it too. Sent onward it travels as the same reference.
 */
public final class RemoteGenerator implements RpcGenerator {

    private final Map<String, Object> encoded;
    private final RemoteMethod nextMethod;
    private final RemoteMethod closeMethod;
    private Future<Object> last = Future.succeededFuture();
    private boolean done;

    RemoteGenerator(HyphaClient client, Map<String, Object> encoded, String remoteParent) {
        this.encoded = Collections.unmodifiableMap(new LinkedHashMap<>(encoded));
        String target = (String) encoded.get("_rtarget");
        this.nextMethod = new RemoteMethod(client, MethodRef.answered(target, (String) encoded.get("_rmethod")), remoteParent);
        if (encoded.get("_rclose_method") instanceof String closePath) {
            this.closeMethod = new RemoteMethod(client, MethodRef.answered(target, closePath), remoteParent);
        } else {
            this.closeMethod = null;
        }
    }

    /** The next item, or {@link RpcGenerator#END}; calls are answered in order, one request at a time. */
    @Override
    public synchronized Future<Object> next() {
        Future<Object> result = last.transform(ar -> fetch());
        last = result;
        return result;
    }

    @SuppressWarnings("unchecked")
    private Future<Object> fetch() {
        synchronized (this) {
            if (done) {
                return Future.succeededFuture(END);
            }
        }
        return nextMethod.call().transform(ar -> {
            if (ar.failed()) {
                // a producer that failed or fell silent is told to let go, as Python's consumer does
                close();
                return Future.failedFuture(ar.cause());
            }
            Object item = ar.result();
            if (item instanceof Map<?, ?> m && "stop_iteration".equals(m.get("_rtype"))) {
                synchronized (this) {
                    done = true;
                }
                return Future.succeededFuture(END);
            }
            return Future.succeededFuture(item);
        });
    }

    /** Stops early: the owner's close method is called once; after the end it does nothing. */
    @Override
    public Future<Void> close() {
        synchronized (this) {
            if (done) {
                return Future.succeededFuture();
            }
            done = true;
        }
        if (closeMethod == null) {
            return Future.succeededFuture();
        }
        return closeMethod.call().mapEmpty();
    }

    /** Pulls every item, handing each to {@code consumer} before asking for the next; completes with the count. */
    public Future<Long> forEach(Function<Object, Future<?>> consumer) {
        Promise<Long> done = Promise.promise();
        pull(consumer, done, 0);
        return done.future();
    }

    private void pull(Function<Object, Future<?>> consumer, Promise<Long> done, long count) {
        next().onFailure(done::tryFail).onSuccess(item -> {
            if (item == END) {
                done.tryComplete(count);
                return;
            }
            Future<?> handled;
            try {
                handled = consumer.apply(item);
            } catch (RuntimeException e) {
                handled = Future.failedFuture(e);
            }
            (handled == null ? Future.succeededFuture() : handled).onComplete(ar -> {
                if (ar.failed()) {
                    close();
                    done.tryFail(ar.cause());
                } else {
                    pull(consumer, done, count + 1);
                }
            });
        });
    }

    /** Every remaining item, in order. */
    public Future<List<Object>> collect() {
        List<Object> items = new ArrayList<>();
        return forEach(item -> {
            items.add(item);
            return null;
        }).map(n -> items);
    }

    /** The owner: {@code workspace/client_id}. */
    public String target() {
        return nextMethod.target();
    }

    Map<String, Object> encoded() {
        return encoded;
    }

    @Override
    public String toString() {
        return "RemoteGenerator[" + target() + ":" + nextMethod.path() + "]";
    }
}
