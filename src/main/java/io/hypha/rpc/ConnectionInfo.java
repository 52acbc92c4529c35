package io.hypha.rpc;

import java.util.Map;

import io.vertx.core.json.JsonObject;

/** What the server said when it accepted the connection ({@code connection_info}). */
public record ConnectionInfo(
        String hyphaVersion,
        String publicBaseUrl,
        String localBaseUrl,
        String managerId,
        String workspace,
        String clientId,
        Map<String, Object> user,
        String reconnectionToken,
        double reconnectionTokenLifeTime,
        JsonObject raw) {

    static ConnectionInfo fromJson(JsonObject json) {
        JsonObject user = json.getJsonObject("user", new JsonObject());
        Number life = json.getNumber("reconnection_token_life_time");
        return new ConnectionInfo(
                json.getString("hypha_version"),
                json.getString("public_base_url"),
                json.getString("local_base_url"),
                json.getString("manager_id"),
                json.getString("workspace"),
                json.getString("client_id"),
                user.getMap(),
                json.getString("reconnection_token"),
                life == null ? 0 : life.doubleValue(),
                json);
    }

    /** The logged-in user's id. */
    public String userId() {
        Object id = user == null ? null : user.get("id");
        return id == null ? null : id.toString();
    }
}
