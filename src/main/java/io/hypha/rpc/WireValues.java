package io.hypha.rpc;

import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Java values to their wire form and back: functions, generators, interface objects, errors and
 * arrays travel as {@code _rtype} maps. MessagePack itself is {@link MsgpackCodec}'s.
 */
final class WireValues {

    private final HyphaClient client;

    WireValues(HyphaClient client) {
        this.client = client;
    }

    /** A function in a call that points at someone other than the caller; the call is refused. */
    static final class ForeignFunctionException extends IllegalArgumentException {
        final String field;

        ForeignFunctionException(String field) {
            super("refused: " + field + " is a function of another client; a caller may pass only its own functions");
            this.field = field;
        }

        /** The same refusal one level up, its field path prefixed; built only when a call is refused. */
        ForeignFunctionException within(String prefix) {
            return new ForeignFunctionException(prefix + field);
        }
    }

    /** A function of ours at {@code path}, as the wire carries it. */
    Map<String, Object> servedFunction(String path, RpcFunction fn) {
        return MethodRef.served(client.fullClientId(), path, fn, client.publicBaseUrl());
    }

    /** Java values to their wire form; functions become callbacks held by the given session. */
    Object encode(Object v, CallSession session) {
        if (v == null || v instanceof String || v instanceof Number || v instanceof Boolean || v instanceof byte[]) {
            return v;
        }
        if (v instanceof RpcFunction fn) {
            if (session == null) {
                throw new IllegalArgumentException("a function can only be sent as an argument or result of a call");
            }
            String objectId = HyphaClient.newId(16) + "#" + fn.name();
            session.callbacks.put(objectId, fn);
            return servedFunction(session.id + "." + objectId, fn);
        }
        if (v instanceof RemoteMethod rm) {
            // forwarded as the same reference, so the receiver calls its owner directly
            return new LinkedHashMap<>(rm.encoded());
        }
        if (v instanceof RemoteGenerator rg) {
            return new LinkedHashMap<>(rg.encoded());
        }
        if (v instanceof RpcGenerator g) {
            if (session == null) {
                throw new IllegalArgumentException("a generator can only be sent as an argument or result of a call");
            }
            return client.served.serveGenerator(g, session);
        }
        if (v instanceof Throwable t) {
            return errorValue(t);
        }
        if (v instanceof NdArray nd) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("_rtype", "ndarray");
            m.put("_rvalue", nd.data());
            m.put("_rshape", nd.shape());
            m.put("_rdtype", nd.dtype());
            return m;
        }
        if (v instanceof CallContext c) {
            return encode(c.raw(), session);
        }
        if (v instanceof RemoteService rs) {
            return encode(rs.descriptor(), session);
        }
        if (v instanceof JsonObject json) {
            return encode(json.getMap(), session);
        }
        if (v instanceof JsonArray json) {
            return encode(json.getList(), session);
        }
        if (v instanceof Map<?, ?> map && Boolean.TRUE.equals(map.get("_rintf"))
                && map.entrySet().stream().anyMatch(e -> e.getValue() instanceof RpcFunction && !String.valueOf(e.getKey()).startsWith("_"))) {
            if (session == null) {
                throw new IllegalArgumentException("an interface object can only be sent as an argument or result of a call");
            }
            return client.served.serveInterface(map, session);
        }
        if (v instanceof Map<?, ?> map) {
            Map<Object, Object> out = new LinkedHashMap<>(Math.max(4, map.size() * 4 / 3 + 1));
            for (Map.Entry<?, ?> e : map.entrySet()) {
                out.put(e.getKey(), encode(e.getValue(), session));
            }
            return out;
        }
        if (v instanceof Collection<?> c) {
            List<Object> out = new ArrayList<>(c.size());
            for (Object item : c) {
                out.add(encode(item, session));
            }
            return out;
        }
        if (v instanceof Object[] array) {
            List<Object> out = new ArrayList<>(array.length);
            for (Object item : array) {
                out.add(encode(item, session));
            }
            return out;
        }
        return v;
    }

    static Map<String, Object> errorValue(Throwable t) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_rtype", "error");
        if (t instanceof RemoteException re) {
            m.put("_rvalue", re.remoteMessage());
            m.put("_rtrace", re.remoteTrace());
            return m;
        }
        String message = t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
        m.put("_rvalue", message);
        if (t.getStackTrace().length == 0) {
            // an exception made without a trace is a message for the caller, nothing more
            m.put("_rtrace", "");
            return m;
        }
        StringWriter trace = new StringWriter();
        t.printStackTrace(new PrintWriter(trace));
        m.put("_rtrace", trace.toString());
        return m;
    }

    /**
     * Wire values to Java; {@code _rtype} maps become remote functions, errors and arrays. With
     * {@code onlyTarget}, a function of any client other than that one is refused with
     * {@link ForeignFunctionException} naming {@code field}: a caller's functions are called by us,
     * as us, so they must lead back to the caller.
     */
    @SuppressWarnings("unchecked")
    Object decode(Object v, String remoteParent, String remoteWs, String onlyTarget) {
        if (v instanceof Map<?, ?> raw) {
            Map<String, Object> map = (Map<String, Object>) raw;
            Object rtype = map.get("_rtype");
            if (rtype != null) {
                switch (rtype.toString()) {
                    case "method": {
                        Map<String, Object> m = new LinkedHashMap<>(map);
                        String target = str(m.get("_rtarget"));
                        if (target != null && !target.contains("/") && remoteWs != null && !remoteWs.equals(target)) {
                            m.put("_rtarget", remoteWs + "/" + target);
                        }
                        if (onlyTarget != null && !onlyTarget.equals(m.get("_rtarget"))) {
                            throw new ForeignFunctionException("");
                        }
                        if (!(m.get("_rmethod") instanceof String)) {
                            throw new IllegalArgumentException("a function without _rmethod");
                        }
                        return new RemoteMethod(client, m, remoteParent);
                    }
                    case "generator": {
                        Map<String, Object> m = new LinkedHashMap<>(map);
                        String target = str(m.get("_rtarget"));
                        if (target != null && !target.contains("/") && remoteWs != null && !remoteWs.equals(target)) {
                            m.put("_rtarget", remoteWs + "/" + target);
                        }
                        if (onlyTarget != null && !onlyTarget.equals(m.get("_rtarget"))) {
                            throw new ForeignFunctionException("");
                        }
                        if (!(m.get("_rmethod") instanceof String) || !(m.get("_rtarget") instanceof String)
                                || m.containsKey("_rclose_method") && !(m.get("_rclose_method") instanceof String)) {
                            throw new IllegalArgumentException("a generator without _rtarget and _rmethod, or with a malformed _rclose_method");
                        }
                        return new RemoteGenerator(client, m, remoteParent);
                    }
                    case "error":
                        return new RemoteException(str(map.get("_rvalue")), str(map.get("_rtrace")));
                    case "ndarray":
                    case "typedarray": {
                        List<Long> shape = null;
                        if (map.get("_rshape") instanceof List<?> s) {
                            shape = new ArrayList<>();
                            for (Object d : s) {
                                shape.add(((Number) d).longValue());
                            }
                        }
                        return new NdArray(joinBytes(map.get("_rvalue")), shape, str(map.get("_rdtype")));
                    }
                    case "memoryview":
                        return joinBytes(map.get("_rvalue"));
                    case "pydantic_model":
                        // a Python model's fields (its JSON dump); the schema beside them is Python's to rebuild the class
                        return map.get("_rvalue") instanceof Map<?, ?> fields ? decode(fields, remoteParent, remoteWs, onlyTarget)
                                : new LinkedHashMap<>();
                    case "set": {
                        Object items = decode(map.get("_rvalue"), remoteParent, remoteWs, onlyTarget);
                        return items instanceof List<?> l ? new LinkedHashSet<>(l) : new LinkedHashSet<>();
                    }
                    default:
                        break;
                }
            }
            for (Map.Entry<String, Object> e : map.entrySet()) {
                try {
                    e.setValue(decode(e.getValue(), remoteParent, remoteWs, onlyTarget));
                } catch (ForeignFunctionException f) {
                    throw f.within("." + e.getKey());
                }
            }
            if (Boolean.TRUE.equals(map.get("_rintf"))) {
                return new RemoteInterface(map);
            }
            return map;
        }
        if (v instanceof List<?> raw) {
            List<Object> list = (List<Object>) raw;
            for (int i = 0; i < list.size(); i++) {
                try {
                    list.set(i, decode(list.get(i), remoteParent, remoteWs, onlyTarget));
                } catch (ForeignFunctionException f) {
                    throw f.within("[" + i + "]");
                }
            }
            return list;
        }
        return v;
    }

    /** A caller's arguments: any function in them must be the caller's own. */
    Object decodeArgs(List<?> args, String callerSession, String remoteWs, String caller) {
        try {
            return decode(args, callerSession, remoteWs, caller);
        } catch (ForeignFunctionException f) {
            throw f.within("args");
        }
    }

    private static byte[] joinBytes(Object value) {
        if (value instanceof byte[] b) {
            return b;
        }
        if (value instanceof List<?> parts) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (Object p : parts) {
                if (p instanceof byte[] b) {
                    out.writeBytes(b);
                }
            }
            return out.toByteArray();
        }
        return new byte[0];
    }

    private static String str(Object o) {
        return o == null ? null : o.toString();
    }
}
