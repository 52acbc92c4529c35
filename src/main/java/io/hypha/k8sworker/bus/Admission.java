package io.hypha.k8sworker.bus;

import io.vertx.core.json.JsonObject;

/**
 * Ask the service-watcher for room for a new session before its Job is created, or give the room
 * back when the launch failed ({@link Addresses#SESSIONS}, operations admit and release).
 */
public record Admission(String sessionId, String workspace) {

    public JsonObject toJson() {
        return new JsonObject().put("sessionId", sessionId).put("workspace", workspace);
    }

    public static Admission fromJson(JsonObject json) {
        return new Admission(json.getString("sessionId"), json.getString("workspace"));
    }
}
