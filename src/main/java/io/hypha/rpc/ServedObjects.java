package io.hypha.rpc;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Generators and interface objects of ours that we sent in a call or a reply: each is held by one
 * client, the only one that may call it, and goes when that client leaves.
 */
final class ServedObjects {

    private static final Logger LOG = LoggerFactory.getLogger(HyphaClient.class);

    private final HyphaClient client;
    private final CallSessions calls;
    private final WireValues codec;
    /** Interface objects we sent ({@code _rintf}): local services, never registered, each callable by one client only. */
    private final Map<String, ServedInterface> interfaces = new HashMap<>();
    private boolean watchingDisconnects;

    /** An interface object of ours held by one client, its only allowed caller. */
    record ServedInterface(String id, String allowedCaller, Map<String, RpcFunction> functions) {
    }

    ServedObjects(HyphaClient client, CallSessions calls, WireValues codec) {
        this.client = client;
        this.calls = calls;
        this.codec = codec;
    }

    ServedInterface interfaceById(String id) {
        return interfaces.get(id);
    }

    boolean disposeInterface(String id) {
        return interfaces.remove(id) != null;
    }

    Set<String> interfaceIds() {
        return new HashSet<>(interfaces.keySet());
    }

    void clear() {
        interfaces.clear();
    }

    /**
     * Our generator, sent in a call or a reply: its next and close become callbacks of the session,
     * which only the session's target may call (Python's wire form: {@code _rclose_method} is
     * {@code <session>.<id>:close}).
     */
    Map<String, Object> serveGenerator(RpcGenerator source, CallSession session) {
        String objectId = HyphaClient.newId(16);
        ServedGenerator served = new ServedGenerator(calls, client.vertx(), client.options().getGeneratorIdleTimeout(), session, objectId, source);
        session.callbacks.put(served.nextId, RpcFunction.of("next", inv -> served.next()));
        session.callbacks.put(served.closeId, RpcFunction.of("close", inv -> {
            served.finish(true);
            return true;
        }));
        session.generators.add(served);
        served.armIdleTimer();
        watchDisconnects();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_rtype", "generator");
        if (client.publicBaseUrl() != null) {
            m.put("_rserver", client.publicBaseUrl());
        }
        m.put("_rtarget", client.fullClientId());
        m.put("_rmethod", session.id + "." + served.nextId);
        m.put("_rclose_method", session.id + "." + served.closeId);
        m.put("_rpromise", "*");
        m.put("_rdoc", "Remote generator");
        return m;
    }

    /**
     * Generators are closed when their consumer leaves: the server tells the workspace's
     * subscribers of each client that disconnects (consumers in other workspaces are caught by the
     * idle timeout instead).
     */
    private void watchDisconnects() {
        if (watchingDisconnects) {
            return;
        }
        watchingDisconnects = true;
        client.events.addListener("client_disconnected", this::onClientDisconnected);
        client.subscribe(List.of("client_disconnected")).onFailure(err -> {
            LOG.warn("not told of disconnecting clients, generators end only by their idle timeout: {}", err.getMessage());
        });
    }

    private void onClientDisconnected(Map<String, Object> event) {
        Object data = event.get("data") instanceof Map<?, ?> d ? d : event;
        Map<?, ?> fields = (Map<?, ?>) data;
        Object id = fields.get("id") != null ? fields.get("id") : event.get("client");
        if (id == null) {
            return;
        }
        String ws = fields.get("workspace") != null ? fields.get("workspace").toString() : client.workspace();
        String gone = id.toString().contains("/") ? id.toString() : ws + "/" + id;
        List<CallSession> theirs = new ArrayList<>();
        for (CallSession s : calls.sessions.values()) {
            if (!s.generators.isEmpty() && gone.equals(HyphaClient.qualify(s.targetId, client.workspace()))) {
                theirs.add(s);
            }
        }
        for (CallSession s : theirs) {
            LOG.info("closing {} generator(s) of {}, which disconnected", s.generators.size(), gone);
            calls.releaseGenerators(s);
        }
        if (interfaces.values().removeIf(i -> gone.equals(i.allowedCaller()))) {
            LOG.info("dropped the interface objects held by {}, which disconnected", gone);
        }
    }

    /**
     * Our interface object ({@code "_rintf": true} and functions), sent in a call or a reply: its
     * functions become a local service {@code _rintf_<id>} that only the session's target may call,
     * living past the call until that client calls {@code _dispose}, disconnects, or this client
     * leaves. Sent as Python sends it: functions as service methods, plus {@code _dispose} and
     * {@code _rintf_service_id}; the id is also put into the map given, when it is mutable.
     */
    @SuppressWarnings("unchecked")
    Map<String, Object> serveInterface(Map<?, ?> object, CallSession session) {
        String id = "_rintf_" + HyphaClient.newId(22);
        String allowedCaller = HyphaClient.qualify(session.targetId, client.workspace());
        Map<String, RpcFunction> functions = new HashMap<>();
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : object.entrySet()) {
            String key = String.valueOf(e.getKey());
            if (e.getValue() instanceof RpcFunction fn && !key.startsWith("_")) {
                functions.put(key, fn);
                out.put(key, codec.servedFunction("services." + id + "." + key, fn));
            } else {
                out.put(key, codec.encode(e.getValue(), session));
            }
        }
        RpcFunction dispose = RpcFunction.of("_dispose", inv -> {
            interfaces.remove(id);
            return null;
        }).description("Frees this interface object at its sender");
        functions.put("_dispose", dispose);
        interfaces.put(id, new ServedInterface(id, allowedCaller, functions));
        out.put("_dispose", codec.servedFunction("services." + id + "._dispose", dispose));
        out.put("_rintf_service_id", id);
        try {
            ((Map<Object, Object>) object).put("_rintf_service_id", id);
        } catch (UnsupportedOperationException | ClassCastException e) {
            // an immutable map: the caller learns the id from interfaceIds() if it needs it
        }
        watchDisconnects();
        return out;
    }

}
