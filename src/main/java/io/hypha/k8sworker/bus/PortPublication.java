package io.hypha.k8sworker.bus;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The web ports of one running session ({@link Addresses#PORTS}): where its pod answers and the
 * compiled ports (each {@code {port, name, service_id, visibility}}); for a withdrawal only the
 * session id counts.
 */
public record PortPublication(String sessionId, String workspace, String podIp, JsonArray ports) {

    public JsonObject toJson() {
        return new JsonObject().put("sessionId", sessionId).put("workspace", workspace).put("podIp", podIp).put("ports", ports);
    }

    public static PortPublication fromJson(JsonObject json) {
        return new PortPublication(json.getString("sessionId"), json.getString("workspace"), json.getString("podIp"),
                json.getJsonArray("ports", new JsonArray()));
    }
}
