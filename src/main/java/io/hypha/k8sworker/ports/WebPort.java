package io.hypha.k8sworker.ports;

import io.vertx.core.json.JsonObject;

/**
 * One web port of a session, as compiled from {@code manifest.ports} and kept in the Job's
 * annotation: the container port, its name, the Hypha service id it is published under and that
 * service's visibility.
 */
public record WebPort(int port, String name, String serviceId, String visibility) {

    public JsonObject toJson() {
        return new JsonObject().put("port", port).put("name", name).put("service_id", serviceId).put("visibility", visibility);
    }

    public static WebPort fromJson(JsonObject json) {
        return new WebPort(json.getInteger("port"), json.getString("name"), json.getString("service_id"),
                json.getString("visibility", "protected"));
    }
}
