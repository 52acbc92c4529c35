package io.hypha.k8sworker.bus;

import io.vertx.core.json.JsonObject;

/** Wait until a Hypha service is registered ({@link Addresses#HYPHA}); the reply carries its full id. */
public record ServiceWait(String serviceId, long timeoutMs) {

    public JsonObject toJson() {
        return new JsonObject().put("serviceId", serviceId).put("timeoutMs", timeoutMs);
    }

    public static ServiceWait fromJson(JsonObject json) {
        return new ServiceWait(json.getString("serviceId"), json.getLong("timeoutMs", 120_000L));
    }
}
