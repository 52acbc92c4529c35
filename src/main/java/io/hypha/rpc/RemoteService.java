package io.hypha.rpc;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import io.vertx.core.Future;

/** A service of another peer, as {@code get_service} returned it: its descriptor with callable members. */
public final class RemoteService {

    private final Map<String, Object> descriptor;

    RemoteService(Map<String, Object> descriptor) {
        this.descriptor = Collections.unmodifiableMap(descriptor);
    }

    /** Full id: {@code workspace/client_id:service_id}. */
    public String id() {
        return (String) descriptor.get("id");
    }

    public String name() {
        Object n = descriptor.get("name");
        return n == null ? null : n.toString();
    }

    public String description() {
        Object d = descriptor.get("description");
        return d == null ? null : d.toString();
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> config() {
        Object c = descriptor.get("config");
        return c instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    }

    /** The whole descriptor, members decoded ({@link RemoteMethod} for functions). */
    public Map<String, Object> descriptor() {
        return descriptor;
    }

    /** The function at a dotted member path; fails when there is none. */
    public RemoteMethod method(String dottedPath) {
        Object current = descriptor;
        for (String part : dottedPath.split("\\.")) {
            current = current instanceof Map<?, ?> m ? m.get(part) : null;
        }
        if (current instanceof RemoteMethod m) {
            return m;
        }
        throw new IllegalArgumentException("service " + id() + " has no function " + dottedPath);
    }

    public boolean hasMethod(String dottedPath) {
        try {
            method(dottedPath);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    public Future<Object> call(String method, Object... args) {
        try {
            return method(method).call(args);
        } catch (IllegalArgumentException e) {
            return Future.failedFuture(e);
        }
    }

    public Future<Object> callWithKwargs(String method, List<?> args, Map<String, ?> kwargs) {
        try {
            return method(method).callWithKwargs(args, kwargs);
        } catch (IllegalArgumentException e) {
            return Future.failedFuture(e);
        }
    }

    @Override
    public String toString() {
        return "RemoteService[" + id() + " " + Arrays.toString(descriptor.keySet().toArray()) + "]";
    }
}
