package io.hypha.rpc;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The one builder of {@code _rtype: "method"} maps, the wire form of a reference to a function of
 * some client: the functions we serve, the methods we call, and the reply channels of calls.
 */
final class MethodRef {

    private MethodRef() {
    }

    /** A function whose calls are answered: the receiver opens a reply channel for each call. */
    static Map<String, Object> answered(String target, String path) {
        return ref(target, path, "*");
    }

    /** A function whose calls get no reply: the resolve, reject and heartbeat of a call. */
    static Map<String, Object> unanswered(String target, String path) {
        return ref(target, path, false);
    }

    /** A function of ours, described so the receiver can show and check it. */
    static Map<String, Object> served(String ownerId, String path, RpcFunction fn, String publicBaseUrl) {
        Map<String, Object> m = ref(ownerId, path, "*");
        m.put("_rname", fn.name());
        m.put("_rdoc", fn.description());
        m.put("_rschema", fn.schema());
        if (publicBaseUrl != null) {
            m.put("_rserver", publicBaseUrl);
        }
        return m;
    }

    private static Map<String, Object> ref(String target, String path, Object promise) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_rtype", "method");
        m.put("_rtarget", target);
        m.put("_rmethod", path);
        m.put("_rpromise", promise);
        return m;
    }
}
