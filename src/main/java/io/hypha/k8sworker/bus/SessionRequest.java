package io.hypha.k8sworker.bus;

import io.vertx.core.json.JsonObject;

/**
 * A query or command about sessions, to {@link Addresses#SESSIONS}: who asks (their workspace, and
 * whether they are an admin who may act on any workspace), which session, and the paging of logs.
 */
public record SessionRequest(String callerWorkspace, boolean admin, String sessionId, String workspaceFilter,
                             String logType, int offset, Integer limit) {

    public static SessionRequest of(String callerWorkspace, boolean admin) {
        return new SessionRequest(callerWorkspace, admin, null, null, null, 0, null);
    }

    public SessionRequest session(String id) {
        return new SessionRequest(callerWorkspace, admin, id, workspaceFilter, logType, offset, limit);
    }

    public SessionRequest workspace(String filter) {
        return new SessionRequest(callerWorkspace, admin, sessionId, filter, logType, offset, limit);
    }

    public SessionRequest logs(String type, int from, Integer max) {
        return new SessionRequest(callerWorkspace, admin, sessionId, workspaceFilter, type, from, max);
    }

    public JsonObject toJson() {
        return new JsonObject().put("callerWorkspace", callerWorkspace).put("admin", admin).put("sessionId", sessionId)
                .put("workspaceFilter", workspaceFilter).put("logType", logType).put("offset", offset).put("limit", limit);
    }

    public static SessionRequest fromJson(JsonObject json) {
        return new SessionRequest(json.getString("callerWorkspace"), json.getBoolean("admin", false), json.getString("sessionId"),
                json.getString("workspaceFilter"), json.getString("logType"), json.getInteger("offset", 0), json.getInteger("limit"));
    }
}
