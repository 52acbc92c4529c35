package io.hypha.k8sworker.bus;

import java.util.Map;

import io.vertx.core.json.JsonObject;

/**
 * A session to launch, as the hypha-bridge sends it to a job type's address. The token travels only
 * on the local event bus and ends up in a Secret, never in the Job.
 */
public record LaunchRequest(String sessionId, String appId, String workspace, String clientId, String serverUrl,
                            String token, String caller, String entryPoint, Map<String, Object> manifest, String user,
                            String artifactId, String appFilesBaseUrl, boolean fromAppController, String daemonApp) {

    /** A direct caller's request: no app artifact, and the manifest checked strictly. */
    public LaunchRequest(String sessionId, String appId, String workspace, String clientId, String serverUrl, String token,
                         String caller, String entryPoint, Map<String, Object> manifest, String user) {
        this(sessionId, appId, workspace, clientId, serverUrl, token, caller, entryPoint, manifest, user, null, null, false, null);
    }

    /** A request without the calling user's id (whose sessions then count towards no per-user limit). */
    public LaunchRequest(String sessionId, String appId, String workspace, String clientId, String serverUrl, String token,
                         String caller, String entryPoint, Map<String, Object> manifest) {
        this(sessionId, appId, workspace, clientId, serverUrl, token, caller, entryPoint, manifest, null);
    }

    public JsonObject toJson() {
        return new JsonObject().put("sessionId", sessionId).put("appId", appId).put("workspace", workspace)
                .put("clientId", clientId).put("serverUrl", serverUrl).put("token", token).put("caller", caller)
                .put("entryPoint", entryPoint).put("manifest", new JsonObject(manifest)).put("user", user)
                .put("artifactId", artifactId).put("appFilesBaseUrl", appFilesBaseUrl).put("fromAppController", fromAppController)
                .put("daemonApp", daemonApp);
    }

    public static LaunchRequest fromJson(JsonObject json) {
        return new LaunchRequest(json.getString("sessionId"), json.getString("appId"), json.getString("workspace"),
                json.getString("clientId"), json.getString("serverUrl"), json.getString("token"), json.getString("caller"),
                json.getString("entryPoint"), JsonValues.plainMap(json.getJsonObject("manifest", new JsonObject())),
                json.getString("user"), json.getString("artifactId"), json.getString("appFilesBaseUrl"),
                json.getBoolean("fromAppController", false), json.getString("daemonApp"));
    }
}
