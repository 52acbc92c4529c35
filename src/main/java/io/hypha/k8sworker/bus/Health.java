package io.hypha.k8sworker.bus;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

/**
 * A component's answer to {@link HealthOp#CHECK}: whether it can serve now, and what it based that on
 * ({@code details}, shown in {@code /health/ready}; nothing secret).
 */
public record Health(boolean up, JsonObject details) {

    public Health {
        details = details == null ? new JsonObject() : details;
    }

    /** The reply of a {@link HealthOp#CHECK} handler. */
    public static Future<JsonObject> answer(boolean up, JsonObject details) {
        return Future.succeededFuture(new Health(up, details).toJson());
    }

    public JsonObject toJson() {
        return new JsonObject().put("up", up).put("details", details);
    }

    public static Health fromJson(JsonObject json) {
        return new Health(json.getBoolean("up", false), json.getJsonObject("details"));
    }
}
