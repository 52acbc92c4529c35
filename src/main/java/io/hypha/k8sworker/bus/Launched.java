package io.hypha.k8sworker.bus;

import java.util.Map;

import io.vertx.core.json.JsonObject;

/** A job-type handler's answer to a launch: the Job it created and what the start should wait for. */
public record Launched(String jobName, String sessionId, boolean waitForService, String serviceId, long serviceTimeoutSeconds,
                       Map<String, Object> manifest) {

    public JsonObject toJson() {
        return new JsonObject().put("jobName", jobName).put("sessionId", sessionId).put("waitForService", waitForService)
                .put("serviceId", serviceId).put("serviceTimeoutSeconds", serviceTimeoutSeconds).put("manifest", new JsonObject(manifest));
    }

    public static Launched fromJson(JsonObject json) {
        return new Launched(json.getString("jobName"), json.getString("sessionId"), json.getBoolean("waitForService", false),
                json.getString("serviceId"), json.getLong("serviceTimeoutSeconds", 120L),
                JsonValues.plainMap(json.getJsonObject("manifest", new JsonObject())));
    }
}
