package io.hypha.k8sworker.bus;

import java.util.Map;

import io.vertx.core.json.JsonObject;

/**
 * A manifest to check and fill in ({@link JobTypeOp#COMPILE}); one from Hypha's app controller may
 * carry the fields of the app manifest it comes from.
 */
public record CompileRequest(Map<String, Object> manifest, boolean fromAppController) {

    public JsonObject toJson() {
        return new JsonObject().put("manifest", new JsonObject(manifest)).put("fromAppController", fromAppController);
    }

    public static CompileRequest fromJson(JsonObject json) {
        return new CompileRequest(JsonValues.plainMap(json.getJsonObject("manifest", new JsonObject())),
                json.getBoolean("fromAppController", false));
    }
}
