package io.hypha.k8sworker.config;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Reads one setting from the tree, in the forms YAML and environment variables give it (a list as
 * comma-separated items, a map as k=v pairs), with its default; a bad value names the setting.
 */
final class Settings {

    static final Set<String> TOLERATION_FIELDS = Set.of("key", "operator", "value", "effect", "tolerationSeconds");


    private Settings() {
    }

    /** A map of strings (YAML), or "k=v,k2=v2" from an environment variable. */
    static Map<String, String> stringMap(JsonObject o, String key) {
        Object v = o.getValue(key);
        Map<String, String> out = new LinkedHashMap<>();
        if (v == null || v.toString().isBlank()) {
            return out;
        }
        if (v instanceof JsonObject m) {
            m.forEach(e -> {
                if (!(e.getValue() instanceof String || e.getValue() instanceof Number || e.getValue() instanceof Boolean)) {
                    throw new IllegalArgumentException("kubernetes." + key + "." + e.getKey() + " must be a string, got " + e.getValue());
                }
                out.put(e.getKey(), e.getValue().toString());
            });
            return out;
        }
        for (String pair : v.toString().split(",")) {
            int eq = pair.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("kubernetes." + key + " must be a map, or key=value pairs separated by commas, got " + v);
            }
            out.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
        }
        return out;
    }

    /** Kubernetes tolerations (key, operator, value, effect, tolerationSeconds), as YAML or as JSON from an environment variable. */
    static List<Map<String, Object>> tolerations(JsonObject o, String key) {
        Object v = o.getValue(key);
        if (v == null || v.toString().isBlank()) {
            return List.of();
        }
        JsonArray items;
        try {
            items = v instanceof JsonArray a ? a : new JsonArray(v.toString());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("kubernetes." + key + " must be a list of tolerations, got " + v);
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            if (!(items.getValue(i) instanceof JsonObject t)) {
                throw new IllegalArgumentException("kubernetes." + key + "[" + i + "] must be a toleration (a map), got " + items.getValue(i));
            }
            for (String field : t.fieldNames()) {
                if (!TOLERATION_FIELDS.contains(field)) {
                    throw new IllegalArgumentException("kubernetes." + key + "[" + i + "]." + field + " is not a toleration field (one of "
                            + new TreeSet<>(TOLERATION_FIELDS) + ")");
                }
            }
            Object seconds = t.getValue("tolerationSeconds");
            if (seconds != null && !(seconds instanceof Number)) {
                throw new IllegalArgumentException("kubernetes." + key + "[" + i + "].tolerationSeconds must be a number, got " + seconds);
            }
            out.add(t.getMap());
        }
        return List.copyOf(out);
    }

    static JsonObject sub(JsonObject o, String key) {
        return o.getJsonObject(key, new JsonObject());
    }

    static String str(JsonObject o, String key, String def) {
        Object v = o.getValue(key);
        return v == null ? def : v.toString();
    }

    /** A list from YAML, or from an environment variable as comma-separated items. */
    static List<String> list(JsonObject o, String key, List<String> def) {
        Object v = o.getValue(key);
        if (v == null) {
            return def;
        }
        if (v instanceof JsonArray a) {
            return a.stream().map(String::valueOf).toList();
        }
        return Arrays.stream(v.toString().split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }

    static Map<String, String> quantities(JsonObject o, String key, Map<String, String> def) {
        JsonObject q = o.getJsonObject(key);
        if (q == null) {
            return def;
        }
        Map<String, String> out = new LinkedHashMap<>();
        q.forEach(e -> {
            if (e.getValue() != null && !e.getValue().toString().isBlank()) {
                out.put(e.getKey(), e.getValue().toString());
            }
        });
        return out;
    }

    static int num(JsonObject o, String key, int def) {
        Object v = o.getValue(key);
        if (v == null || v.toString().isBlank()) {
            return def;
        }
        try {
            return v instanceof Number n ? n.intValue() : Integer.parseInt(v.toString().trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be a whole number, got " + v);
        }
    }

    static boolean bool(JsonObject o, String key, boolean def) {
        Object v = o.getValue(key);
        return v == null ? def : Boolean.parseBoolean(v.toString());
    }
}
