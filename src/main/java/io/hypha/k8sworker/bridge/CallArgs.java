package io.hypha.k8sworker.bridge;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Map;

import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.rpc.Invocation;
import io.hypha.rpc.RpcFunction;

/** Reading the worker service's arguments as callers send them, each refusal naming its argument. */
final class CallArgs {

    private CallArgs() {
    }

    /**
     * Argument errors (a missing argument, one of the wrong type) answered as the caller's error:
     * their message only, without the Java stack trace the RPC layer would send with it.
     */
    static RpcFunction.Body callerErrors(RpcFunction.Body body) {
        return inv -> {
            try {
                return body.call(inv);
            } catch (IllegalArgumentException e) {
                throw WorkerException.invalid(e.getMessage());
            }
        };
    }

    /** A session id as given, or a plain one (Hypha's docs' form) taken as a client of the caller's own workspace. */
    static String sessionIdArg(Invocation inv) {
        Object id = inv.arg("session_id");
        if (!(id instanceof String s) || s.isBlank()) {
            throw WorkerException.invalid("session_id must be a non-empty string");
        }
        return s.contains("/") ? s : inv.context().workspace() + "/" + s;
    }

    /**
     * A pydantic model as hypha-rpc sends it ({@code _rtype: pydantic_model}, its fields in
     * {@code _rvalue}): the app controller's ApplicationManifest, a caller's WorkerConfig. Read as
     * the plain map of its fields.
     */
    static Object pydanticValue(Object v) {
        if (v instanceof Map<?, ?> m && "pydantic_model".equals(m.get("_rtype")) && m.get("_rvalue") instanceof Map<?, ?> fields) {
            return fields;
        }
        return v;
    }

    /**
     * An optional count (a page offset or size): a whole number from 0 to 2^31-1. Anything else is
     * refused rather than cast, which would wrap 2^32 to 0 and a long to a negative int.
     */
    static Integer count(Object value, String name) {
        if (value == null) {
            return null;
        }
        boolean whole = value instanceof Long || value instanceof Integer || value instanceof BigInteger
                || value instanceof Double d && Double.isFinite(d) && d == Math.rint(d);
        if (whole) {
            BigDecimal v = new BigDecimal(value.toString());
            if (v.signum() >= 0 && v.compareTo(BigDecimal.valueOf(Integer.MAX_VALUE)) <= 0) {
                return v.intValueExact();
            }
        }
        throw WorkerException.invalid(name + " must be a whole number from 0 to " + Integer.MAX_VALUE);
    }

    /** {@code config.<key>}: absent or blank is null, anything but a string is refused. */
    static String optionalString(Map<String, Object> cfg, String key) {
        Object v = cfg.get(key);
        if (v == null) {
            return null;
        }
        if (!(v instanceof String s)) {
            throw WorkerException.invalid("config." + key + " must be a string");
        }
        return s.isBlank() ? null : s;
    }

    /** {@code config.<key>} as a non-empty string, {@code def} when absent. */
    static String requiredOr(Map<String, Object> cfg, String key, String def) {
        Object v = cfg.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof String s) || s.isBlank()) {
            throw WorkerException.invalid("config." + key + " must be a non-empty string");
        }
        return s;
    }

    /** A map argument, or a pydantic model's fields; {@code what} is the refusal when it is neither. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> mapArg(Object value, String what) {
        if (!(pydanticValue(value) instanceof Map<?, ?> map)) {
            throw WorkerException.invalid(what);
        }
        return (Map<String, Object>) map;
    }
}
