package io.hypha.k8sworker.bus;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/** Event-bus JSON back to plain maps and lists, which is what manifests are read as. */
public final class JsonValues {

    private JsonValues() {
    }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> plainMap(JsonObject json) {
        return (Map<String, Object>) plain(json);
    }

    public static Object plain(Object value) {
        if (value instanceof JsonObject o) {
            return plain(o.getMap());
        }
        if (value instanceof JsonArray a) {
            return plain(a.getList());
        }
        if (value instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            m.forEach((k, v) -> out.put(String.valueOf(k), plain(v)));
            return out;
        }
        if (value instanceof List<?> l) {
            List<Object> out = new ArrayList<>(l.size());
            l.forEach(v -> out.add(plain(v)));
            return out;
        }
        return value;
    }

    /**
     * What kind of value a caller sent, for an error that names it: "a string", "a number", "a
     * boolean", "a list", "a map", else the Java type's name; {@code absent} for null.
     */
    public static String kindOf(Object v, String absent) {
        if (v == null) {
            return absent;
        }
        if (v instanceof String) {
            return "a string";
        }
        if (v instanceof Boolean) {
            return "a boolean";
        }
        if (v instanceof Number) {
            return "a number";
        }
        if (v instanceof List) {
            return "a list";
        }
        if (v instanceof Map) {
            return "a map";
        }
        return v.getClass().getSimpleName();
    }
}
