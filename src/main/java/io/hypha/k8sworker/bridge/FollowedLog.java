package io.hypha.k8sworker.bridge;

import java.util.ArrayDeque;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.rpc.RpcGenerator;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * A followed session log as the generator get_logs(follow=True) returns: lines are fetched from the
 * service-watcher's follow in batches only when the caller has taken the previous ones, so the
 * caller's pace is the stream's. Closing it (or the caller leaving, or falling silent) closes the
 * Kubernetes log stream.
 */
final class FollowedLog implements RpcGenerator {

    /** Lines fetched per request to the watcher. */
    static final int BATCH = 100;

    private final BusClient bus;
    private final String followId;
    private final ArrayDeque<Object> lines = new ArrayDeque<>();
    private boolean ended;

    FollowedLog(BusClient bus, String followId) {
        this.bus = bus;
        this.followId = followId;
    }

    @Override
    public Future<Object> next() {
        if (!lines.isEmpty()) {
            return Future.succeededFuture(lines.poll());
        }
        if (ended) {
            return Future.succeededFuture(END);
        }
        return bus.<JsonObject>request(Addresses.SESSIONS, SessionOp.FOLLOW_NEXT, new JsonObject().put("follow", followId).put("max", BATCH))
                .compose(reply -> {
                    JsonArray batch = reply.getJsonArray("lines", new JsonArray());
                    batch.forEach(lines::add);
                    if (reply.getBoolean("end", true)) {
                        ended = true;
                    }
                    // none yet: ask again, the caller's call stays alive on our heartbeats meanwhile
                    return next();
                });
    }

    @Override
    public Future<Void> close() {
        if (ended) {
            return Future.succeededFuture();
        }
        ended = true;
        lines.clear();
        return bus.request(Addresses.SESSIONS, SessionOp.FOLLOW_CLOSE, new JsonObject().put("follow", followId)).mapEmpty();
    }
}
