package io.hypha.rpc;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Who called: the server-stamped first segment of the message, as Python's {@code context} argument.
 * {@code from}, {@code ws} and {@code user} are set by the server and cannot be forged by the caller.
 */
public record CallContext(String from, String to, String workspace, Map<String, Object> user, String method,
                          Map<String, Object> raw) {

    public String userId() {
        Object id = user == null ? null : user.get("id");
        return id == null ? null : id.toString();
    }

    /** The caller's client id without its workspace. */
    public String clientId() {
        int slash = from == null ? -1 : from.indexOf('/');
        return slash < 0 ? from : from.substring(slash + 1);
    }

    @SuppressWarnings("unchecked")
    public List<String> roles() {
        Object roles = user == null ? null : user.get("roles");
        return roles instanceof List<?> l ? (List<String>) l : Collections.emptyList();
    }

    public boolean isAnonymous() {
        return user != null && Boolean.TRUE.equals(user.get("is_anonymous"));
    }

    /** The user's permission in a workspace from its token scope ("r", "rw", "a"), or null. */
    @SuppressWarnings("unchecked")
    public String permissionIn(String ws) {
        if (user == null || !(user.get("scope") instanceof Map<?, ?> scope)) {
            return null;
        }
        if (!(((Map<String, Object>) scope).get("workspaces") instanceof Map<?, ?> workspaces)) {
            return null;
        }
        Object p = workspaces.get(ws);
        if (p == null) {
            p = workspaces.get("*");
        }
        return p == null ? null : p.toString();
    }
}
