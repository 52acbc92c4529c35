package io.hypha.k8sworker.bus;

import io.vertx.core.json.JsonObject;

/**
 * Ask the service-watcher for room for a new session before its Job is created, or give the room
 * back when the launch failed ({@link Addresses#SESSIONS}, operations admit and release). The user
 * is the Hypha user the call is from (for a token a user generated, that user); {@code userLimited} is false for admins (the app controller starts
 * sessions for everyone), whose starts count towards no per-user limit.
 */
public record Admission(String sessionId, String workspace, String user, boolean userLimited) {

    public JsonObject toJson() {
        return new JsonObject().put("sessionId", sessionId).put("workspace", workspace).put("user", user).put("userLimited", userLimited);
    }

    public static Admission fromJson(JsonObject json) {
        return new Admission(json.getString("sessionId"), json.getString("workspace"), json.getString("user"),
                json.getBoolean("userLimited", false));
    }
}
