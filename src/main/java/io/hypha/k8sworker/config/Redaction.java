package io.hypha.k8sworker.config;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.vertx.core.json.JsonObject;

/**
 * The settings as JSON for the log, derived from the records themselves so that a new setting is
 * shown without being listed; a {@link SecretSetting} shows as {@code "***"} (or {@code ""} when empty).
 */
final class Redaction {

    static final String HIDDEN = "***";

    private Redaction() {
    }

    static JsonObject of(Record settings) {
        return new JsonObject(fields(settings));
    }

    private static Map<String, Object> fields(Record settings) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (RecordComponent c : settings.getClass().getRecordComponents()) {
            Object value;
            try {
                value = c.getAccessor().invoke(settings);
            } catch (IllegalAccessException | InvocationTargetException e) {
                throw new IllegalStateException("cannot read setting " + c.getName(), e);
            }
            out.put(c.getName(), c.isAnnotationPresent(SecretSetting.class) ? hidden(value) : shown(value));
        }
        return out;
    }

    private static Object hidden(Object value) {
        return value == null || value.toString().isEmpty() ? value : HIDDEN;
    }

    private static Object shown(Object value) {
        if (value instanceof Record r) {
            return fields(r);
        }
        if (value instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            m.forEach((k, v) -> out.put(String.valueOf(k), shown(v)));
            return out;
        }
        if (value instanceof Collection<?> items) {
            List<Object> out = new ArrayList<>();
            items.forEach(v -> out.add(shown(v)));
            return out;
        }
        return value;
    }
}
