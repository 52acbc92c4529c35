package io.hypha.k8sworker.bus;

import io.vertx.core.json.JsonObject;

/**
 * Whether this replica leads (holds the Lease), and who does ({@code null} while nobody is known):
 * published at {@link Addresses#LEADER_STATUS} on every change, answered for {@link LeaderOp#STATUS}.
 */
public record Leadership(boolean leading, String leader) {

    public JsonObject toJson() {
        return new JsonObject().put("leading", leading).put("leader", leader);
    }

    public static Leadership fromJson(JsonObject json) {
        return new Leadership(json.getBoolean("leading", false), json.getString("leader"));
    }
}
