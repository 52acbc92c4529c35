package io.hypha.k8sworker.bus;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.function.Function;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;

/**
 * The one way a verticle answers requests: a handler per {@link Operation}, chosen by the message's
 * operation header; its result is the reply, and any failure (thrown or failed) becomes the
 * {@link WorkerException} the requester sees, internal errors with their details hidden.
 */
public final class OperationHandlers implements Handler<Message<JsonObject>> {

    private final Map<String, Function<JsonObject, Future<?>>> byName = new HashMap<>();

    /** {@code handler} answers {@code op} with the future's result ({@code null} replies empty). */
    public OperationHandlers on(Operation op, Function<JsonObject, Future<?>> handler) {
        if (byName.putIfAbsent(op.wireName(), handler) != null) {
            throw new IllegalStateException("two handlers for " + op.wireName());
        }
        return this;
    }

    @Override
    public void handle(Message<JsonObject> message) {
        String op = message.headers().get(Addresses.Headers.OPERATION);
        Function<JsonObject, Future<?>> handler = op == null ? null : byName.get(op);
        Future<?> result;
        try {
            result = handler == null ? Future.failedFuture(WorkerException.invalid("unknown operation " + op))
                    : handler.apply(message.body());
        } catch (RuntimeException e) {
            result = Future.failedFuture(e);
        }
        result.onComplete(ar -> {
            if (ar.succeeded()) {
                message.reply(ar.result());
            } else {
                WorkerException.fail(message, unwrap(ar.cause()));
            }
        });
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    }
}
