package io.hypha.rpc;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

/**
 * Workspace events: the types we subscribed to (subscribed again after a reconnection), the
 * listeners of each type, and the events we broadcast.
 */
final class ClientEvents {

    private static final Logger LOG = LoggerFactory.getLogger(HyphaClient.class);

    private final HyphaClient client;
    private final Vertx vertx;
    private final WireValues codec;
    private final Map<String, List<Handler<Map<String, Object>>>> listeners = new HashMap<>();
    private final Set<String> subscriptions = new LinkedHashSet<>();

    ClientEvents(HyphaClient client, Vertx vertx, WireValues codec) {
        this.client = client;
        this.vertx = vertx;
        this.codec = codec;
    }

    /** Asks the server for the event types not asked for yet. */
    Future<Void> subscribe(Collection<String> eventTypes) {
        List<String> missing = eventTypes.stream().filter(t -> !subscriptions.contains(t)).toList();
        if (missing.isEmpty()) {
            return Future.succeededFuture();
        }
        return client.managerCall("subscribe", List.of(missing), Map.of())
                .onSuccess(v -> subscriptions.addAll(missing))
                .mapEmpty();
    }

    /** Asks again for every type subscribed to, as a reconnected client must. */
    Future<Void> resubscribe() {
        if (subscriptions.isEmpty()) {
            return Future.succeededFuture();
        }
        List<String> types = new ArrayList<>(subscriptions);
        return client.managerCall("subscribe", List.of(types), Map.of()).mapEmpty();
    }

    int subscriptionCount() {
        return subscriptions.size();
    }

    void addListener(String eventType, Handler<Map<String, Object>> handler) {
        listeners.computeIfAbsent(eventType, k -> new ArrayList<>()).add(handler);
    }

    void removeListener(String eventType, Handler<Map<String, Object>> handler) {
        List<Handler<Map<String, Object>>> l = listeners.get(eventType);
        if (l != null) {
            l.remove(handler);
        }
    }

    /** Hands an event to the listeners of its type; one failing listener does not keep it from the others. */
    void dispatch(String type, Map<String, Object> message) {
        List<Handler<Map<String, Object>>> handlers = listeners.get(type);
        if (handlers == null) {
            return;
        }
        for (Handler<Map<String, Object>> h : new ArrayList<>(handlers)) {
            try {
                h.handle(message);
            } catch (RuntimeException e) {
                LOG.warn("{} listener failed", type, e);
            }
        }
    }

    /** Broadcasts a custom event to the subscribed clients of our workspace. */
    Future<Void> emit(String eventType, Map<String, ?> data) {
        Map<String, Object> main = new LinkedHashMap<>();
        main.put("type", eventType);
        main.put("to", "*");
        main.put("from", client.fullClientId());
        main.put("data", codec.encode(data, null));
        return client.socket().send(MsgpackCodec.packFrame(main, null));
    }

    /**
     * Completes with the service's registry entry once it exists, or fails after the timeout.
     * Subscribes to {@code service_added} first and then checks once, so a registration between
     * the two is not missed; services of other workspaces (which send us no events) are polled.
     */
    Future<Map<String, Object>> waitForService(ServiceQuery query, String serviceId, Duration timeout) {
        Promise<Map<String, Object>> found = Promise.promise();
        String wantedWs = query.workspace() == null ? client.workspace() : query.workspace();
        Handler<Map<String, Object>> onAdded = event -> {
            if (event.get("data") instanceof Map<?, ?> data && query.matches(String.valueOf(data.get("id")), client.workspace())) {
                @SuppressWarnings("unchecked")
                Map<String, Object> entry = (Map<String, Object>) data;
                found.tryComplete(entry);
            }
        };
        addListener("service_added", onAdded);
        long deadline = vertx.setTimer(timeout.toMillis(), t -> found.tryFail(new HyphaException.Timeout(
                "service " + serviceId + " was not registered within " + timeout.toSeconds() + " s")));
        Handler<Long> poll = new Handler<>() {
            long delay = 500;

            @Override
            public void handle(Long t) {
                if (found.future().isComplete()) {
                    return;
                }
                checkServiceOnce(serviceId, found).onComplete(ar -> {
                    if (!found.future().isComplete()) {
                        delay = Math.min(delay * 2, 5000);
                        vertx.setTimer(delay, this);
                    }
                });
            }
        };
        Future<Void> subscribed = wantedWs.equals(client.workspace()) ? subscribe(List.of("service_added")) : Future.succeededFuture();
        subscribed.onComplete(ar -> {
            if (ar.failed()) {
                LOG.debug("service_added subscription failed, polling only: {}", ar.cause().getMessage());
            }
            poll.handle(0L);
        });
        return found.future().andThen(ar -> {
            vertx.cancelTimer(deadline);
            removeListener("service_added", onAdded);
        });
    }

    @SuppressWarnings("unchecked")
    private Future<Void> checkServiceOnce(String serviceId, Promise<Map<String, Object>> found) {
        return client.managerCall("get_service_info", List.of(serviceId), Map.of()).transform(ar -> {
            if (ar.succeeded() && ar.result() instanceof Map<?, ?> m) {
                found.tryComplete((Map<String, Object>) m);
            }
            return Future.succeededFuture();
        });
    }
}
