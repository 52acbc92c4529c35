package io.hypha.k8sworker.bus;

import io.vertx.core.json.JsonObject;

/**
 * Follow a session that was just launched until its pod runs, and then, if asked, until its service
 * {@code <workspace>/<serviceId>} registers in Hypha ({@link Addresses#SESSIONS}, operation await).
 */
public record StartWatch(String sessionId, String workspace, boolean waitForService, String serviceId, long serviceTimeoutSeconds) {

    public JsonObject toJson() {
        return new JsonObject().put("sessionId", sessionId).put("workspace", workspace).put("waitForService", waitForService)
                .put("serviceId", serviceId).put("serviceTimeoutSeconds", serviceTimeoutSeconds);
    }

    public static StartWatch fromJson(JsonObject json) {
        return new StartWatch(json.getString("sessionId"), json.getString("workspace"), json.getBoolean("waitForService", false),
                json.getString("serviceId"), json.getLong("serviceTimeoutSeconds", 120L));
    }
}
