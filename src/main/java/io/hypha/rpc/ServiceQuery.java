package io.hypha.rpc;

/**
 * A service id as callers write it: {@code svc}, {@code ws/svc}, {@code cid:svc}, {@code ws/cid:svc},
 * each optionally {@code @app}. Parts left out match anything (the workspace defaults to the caller's).
 */
record ServiceQuery(String workspace, String clientId, String serviceId, String appId) {

    static ServiceQuery parse(String id) {
        if (id == null || id.isBlank()) {
            throw new IllegalArgumentException("service id is empty");
        }
        String rest = id;
        String app = null;
        int at = rest.indexOf('@');
        if (at >= 0) {
            app = rest.substring(at + 1);
            rest = rest.substring(0, at);
        }
        String ws = null;
        int slash = rest.indexOf('/');
        if (slash >= 0) {
            ws = rest.substring(0, slash);
            rest = rest.substring(slash + 1);
        }
        String cid = null;
        int colon = rest.indexOf(':');
        if (colon >= 0) {
            cid = rest.substring(0, colon);
            rest = rest.substring(colon + 1);
        }
        if (rest.isEmpty() || rest.contains("/") || rest.contains(":")) {
            throw new IllegalArgumentException("not a service id: " + id);
        }
        return new ServiceQuery(ws, "*".equals(cid) ? null : cid, rest, "*".equals(app) ? null : app);
    }

    /** Whether a registered full id ({@code ws/cid:svc[@app]}) is what this query asks for. */
    boolean matches(String fullId, String callerWorkspace) {
        ServiceQuery other;
        try {
            other = parse(fullId);
        } catch (IllegalArgumentException e) {
            return false;
        }
        String ws = workspace == null ? callerWorkspace : workspace;
        return ws.equals(other.workspace)
                && serviceId.equals(other.serviceId)
                && (clientId == null || clientId.equals(other.clientId))
                && (appId == null || appId.equals(other.appId));
    }
}
