package io.hypha.k8sworker.bus;

import java.util.function.Consumer;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonObject;

/**
 * Sends the worker's requests over the event bus: the operation in its header, a timeout, and a
 * failure turned into the {@link WorkerException} the caller should see.
 */
public final class BusClient {

    /** For requests that do not say otherwise: longer than any Kubernetes call the handler makes. */
    public static final long DEFAULT_TIMEOUT_MS = 60_000;

    private final Vertx vertx;

    public BusClient(Vertx vertx) {
        this.vertx = vertx;
    }

    public <T> Future<T> request(String address, Operation op, JsonObject body) {
        return request(address, op, body, DEFAULT_TIMEOUT_MS);
    }

    public <T> Future<T> request(String address, Operation op, JsonObject body, long timeoutMs) {
        return vertx.eventBus().<T>request(address, body, options(op).setSendTimeout(timeoutMs))
                .map(reply -> reply.body())
                .recover(err -> Future.failedFuture(WorkerException.from(err)));
    }

    /**
     * Follows this replica's {@link Leadership}: {@code onChange} gets it now (asked of the leader
     * verticle; with none deployed, {@code withoutLeaderVerticle}) and at every change after.
     */
    public Future<Void> followLeadership(Leadership withoutLeaderVerticle, Consumer<Leadership> onChange) {
        vertx.eventBus().<JsonObject>consumer(Addresses.LEADER_STATUS, m -> onChange.accept(Leadership.fromJson(m.body())));
        return this.<JsonObject>request(Addresses.LEADER, LeaderOp.STATUS, new JsonObject())
                .map(Leadership::fromJson)
                .otherwise(withoutLeaderVerticle)
                .map(now -> {
                    onChange.accept(now);
                    return null;
                });
    }

    /** A request whose answer nobody waits for. */
    public void send(String address, Operation op, JsonObject body) {
        vertx.eventBus().send(address, body, options(op));
    }

    private static DeliveryOptions options(Operation op) {
        return new DeliveryOptions().addHeader(Addresses.Headers.OPERATION, op.wireName());
    }
}
