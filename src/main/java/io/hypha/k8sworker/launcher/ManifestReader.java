package io.hypha.k8sworker.launcher;

import static io.hypha.k8sworker.launcher.ManifestValues.*;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.hypha.k8sworker.bus.AppMetadata;
import io.hypha.k8sworker.bus.WorkerException;

/**
 * Reads a manifest field by field, so that every error names its field, and refuses fields nobody
 * read. Values are checked before anything is created.
 */
final class ManifestReader {

    private static final Logger LOG = LoggerFactory.getLogger(ManifestReader.class);
    /** Fields from the app controller already reported as ignored: each is logged once per worker, not per start. */
    private static final Set<String> REPORTED = ConcurrentHashMap.newKeySet();
    private static final int MAX_REPORTED = 1000;

    private final Map<String, Object> manifest;
    private final Set<String> read = new LinkedHashSet<>();
    private final boolean fromAppController;

    /**
     * {@code fromAppController}: the manifest is Hypha's whole ApplicationManifest, which gains fields
     * with Hypha's releases; fields this worker does not know are then ignored (and reported once
     * when set) instead of refused, so that a Hypha upgrade does not stop every app from starting.
     */
    ManifestReader(Object manifest, boolean fromAppController) {
        this.fromAppController = fromAppController;
        if (!(manifest instanceof Map<?, ?> m)) {
            throw WorkerException.invalid("manifest must be a map, got " + typeName(manifest));
        }
        Map<String, Object> copy = new LinkedHashMap<>();
        m.forEach((k, v) -> copy.put(String.valueOf(k), v));
        this.manifest = copy;
    }

    /** Fails unless every field present was read by the job type, or is standard app metadata. */
    void rejectUnknown(String jobType) {
        Set<String> unknown = new TreeSet<>();
        for (String key : manifest.keySet()) {
            // keys starting with '_' are the RPC layer's (e.g. "_rtype" of a manifest the app controller sends)
            if (!read.contains(key) && !AppMetadata.FIELDS.contains(key) && !key.startsWith("_")) {
                unknown.add(key);
            }
        }
        if (!unknown.isEmpty() && fromAppController) {
            for (String key : unknown) {
                if (!isEmpty(manifest.get(key)) && REPORTED.size() < MAX_REPORTED && REPORTED.add(jobType + "." + key)) {
                    LOG.warn("manifest.{} from Hypha's app controller is not used by type {} and is ignored", WorkerException.shown(key), jobType);
                }
            }
            return;
        }
        if (!unknown.isEmpty()) {
            throw WorkerException.invalid("manifest." + unknown.iterator().next() + ": unknown field for type " + jobType
                    + (unknown.size() > 1 ? " (also unknown: " + String.join(", ", unknown) + ")" : ""));
        }
    }

    private static boolean isEmpty(Object v) {
        return v == null || v instanceof String s && s.isEmpty() || v instanceof Map<?, ?> m && m.isEmpty()
                || v instanceof List<?> l && l.isEmpty() || Boolean.FALSE.equals(v);
    }

    String string(String field, String def) {
        read.add(field);
        Object v = manifest.get(field);
        if (v == null) {
            return def;
        }
        if (!(v instanceof String s)) {
            throw wrongType(field, "a string", v);
        }
        if (s.length() > MAX_STRING) {
            throw WorkerException.invalid("manifest." + field + " is longer than " + MAX_STRING + " characters");
        }
        return s;
    }

    String oneOf(String field, String def, List<String> allowed) {
        String s = string(field, def);
        if (s != null && !allowed.contains(s)) {
            throw WorkerException.invalid("manifest." + field + " must be one of " + allowed + ", got '" + s + "'");
        }
        return s;
    }

    String image(String field, String def) {
        String image = string(field, def);
        if (image == null || image.isBlank()) {
            throw WorkerException.invalid("manifest." + field + " is required");
        }
        String why = imageProblem(image);
        if (why != null) {
            throw WorkerException.invalid("manifest." + field + " is not a valid image reference: '" + WorkerException.shown(image) + "' (" + why + ")");
        }
        return image;
    }

    String serviceId(String field, String def) {
        String id = string(field, def);
        if (id != null && !SERVICE_ID.matcher(id).matches()) {
            throw WorkerException.invalid("manifest." + field + " must be 1 to 63 characters of letters, digits, '_' and '-', got '"
                    + WorkerException.shown(id) + "'");
        }
        return id;
    }

    String dnsName(String field, String def) {
        String name = string(field, def);
        if (name != null && (name.length() > 253 || !DNS_NAME.matcher(name).matches())) {
            throw WorkerException.invalid("manifest." + field + " must be a lower-case DNS name, got '" + WorkerException.shown(name) + "'");
        }
        return name;
    }

    /** A key of a Secret's data. */
    String secretKey(String field, String def) {
        String key = string(field, def);
        if (key != null && (key.isEmpty() || key.length() > 253 || !SECRET_KEY.matcher(key).matches())) {
            throw WorkerException.invalid("manifest." + field + " must be a key of a Secret (letters, digits, '-', '_' and '.'), got '"
                    + WorkerException.shown(key) + "'");
        }
        return key;
    }

    boolean bool(String field, boolean def) {
        read.add(field);
        Object v = manifest.get(field);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Boolean b)) {
            throw wrongType(field, "true or false", v);
        }
        return b;
    }

    long integer(String field, long def, long min, long max) {
        read.add(field);
        Object v = manifest.get(field);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Number n) || v instanceof Double d && (d != Math.rint(d) || d.isInfinite())) {
            throw wrongType(field, "a whole number", v);
        }
        long value = n.longValue();
        if (value < min || value > max) {
            throw WorkerException.invalid("manifest." + field + " must be between " + min + " and " + max + ", got " + value);
        }
        return value;
    }

    List<String> stringList(String field) {
        read.add(field);
        Object v = manifest.get(field);
        if (v == null) {
            return null;
        }
        if (v instanceof String s) {
            throw WorkerException.invalid("manifest." + field + " must be a list of strings, e.g. [\"python\", \"-c\", \"...\"], got the string '"
                    + WorkerException.shown(s) + "'");
        }
        if (!(v instanceof List<?> list)) {
            throw wrongType(field, "a list of strings", v);
        }
        if (list.size() > MAX_ITEMS) {
            throw WorkerException.invalid("manifest." + field + " has more than " + MAX_ITEMS + " items");
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            if (!(list.get(i) instanceof String s)) {
                throw WorkerException.invalid("manifest." + field + "[" + i + "] must be a string, got " + typeName(list.get(i)));
            }
            if (s.length() > MAX_STRING) {
                throw WorkerException.invalid("manifest." + field + "[" + i + "] is longer than " + MAX_STRING + " characters");
            }
            out.add(s);
        }
        return out;
    }

    /** Environment variables: names as Kubernetes allows them, string values, none that the worker sets itself. */
    Map<String, String> env(String field, Set<String> reserved) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : map(field).entrySet()) {
            String name = e.getKey();
            if (!ENV_NAME.matcher(name).matches()) {
                throw WorkerException.invalid("manifest." + field + "." + WorkerException.shown(name) + ": not a valid environment variable name");
            }
            if (reserved.contains(name)) {
                throw WorkerException.invalid("manifest." + field + "." + WorkerException.shown(name) + " is set by the worker and cannot be overridden");
            }
            Object v = e.getValue();
            if (!(v instanceof String s)) {
                throw WorkerException.invalid("manifest." + field + "." + WorkerException.shown(name) + " must be a string, got " + typeName(v));
            }
            if (s.length() > MAX_ENV_VALUE) {
                throw WorkerException.invalid("manifest." + field + "." + WorkerException.shown(name) + " is longer than " + MAX_ENV_VALUE + " characters");
            }
            out.put(name, s);
        }
        if (out.size() > MAX_ITEMS) {
            throw WorkerException.invalid("manifest." + field + " has more than " + MAX_ITEMS + " variables");
        }
        return out;
    }

    /**
     * Variables taken from Secrets: {@code {"NAME": {"secret": "<secret name>", "key": "<key>"}}}, with
     * the same name rules as {@link #env}; which Secrets are allowed is the policy's business.
     */
    Map<String, Map<String, String>> secretRefs(String field, Set<String> reserved) {
        Map<String, Map<String, String>> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : map(field).entrySet()) {
            String name = e.getKey();
            String path = "manifest." + field + "." + WorkerException.shown(name);
            if (!ENV_NAME.matcher(name).matches()) {
                throw WorkerException.invalid(path + ": not a valid environment variable name");
            }
            if (reserved.contains(name)) {
                throw WorkerException.invalid(path + " is set by the worker and cannot be overridden");
            }
            if (!(e.getValue() instanceof Map<?, ?> ref)) {
                throw WorkerException.invalid(path + " must be a map {secret: <name>, key: <key>}, got " + typeName(e.getValue()));
            }
            for (Object k : ref.keySet()) {
                if (!"secret".equals(k) && !"key".equals(k)) {
                    throw WorkerException.invalid(path + "." + WorkerException.shown(String.valueOf(k)) + ": unknown field (expected secret and key)");
                }
            }
            if (!(ref.get("secret") instanceof String secret) || secret.length() > 253 || !DNS_NAME.matcher(secret).matches()) {
                throw WorkerException.invalid(path + ".secret must be the name of a Secret (a lower-case DNS name)");
            }
            if (!(ref.get("key") instanceof String key) || key.isEmpty() || key.length() > 253 || !ENV_NAME.matcher(key).matches()) {
                throw WorkerException.invalid(path + ".key must be a key of the Secret (letters, digits, '-', '_' and '.')");
            }
            out.put(name, Map.of("secret", secret, "key", key));
        }
        if (out.size() > MAX_ITEMS) {
            throw WorkerException.invalid("manifest." + field + " has more than " + MAX_ITEMS + " variables");
        }
        return out;
    }

    /** Labels-like maps (node selectors): valid keys and values. */
    Map<String, String> labelMap(String field) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : map(field).entrySet()) {
            if (e.getKey().length() > 253 || !LABEL_KEY.matcher(e.getKey()).matches()) {
                throw WorkerException.invalid("manifest." + field + "." + WorkerException.shown(e.getKey()) + ": not a valid label key");
            }
            if (!(e.getValue() instanceof String s) || s.length() > 63 || !LABEL_VALUE.matcher(s).matches()) {
                throw WorkerException.invalid("manifest." + field + "." + e.getKey() + ": not a valid label value: "
                        + (e.getValue() instanceof String v ? WorkerException.shown(v) : typeName(e.getValue())));
            }
            out.put(e.getKey(), s);
        }
        return out;
    }

    /** {@code requests} and {@code limits}, each a map of resource name to Kubernetes quantity. */
    Map<String, Map<String, String>> resources(String field) {
        Map<String, Map<String, String>> out = new LinkedHashMap<>();
        Map<String, Object> res = map(field);
        for (Map.Entry<String, Object> e : res.entrySet()) {
            String kind = e.getKey();
            if (!kind.equals("requests") && !kind.equals("limits")) {
                throw WorkerException.invalid("manifest." + field + "." + WorkerException.shown(kind) + ": unknown field (expected requests or limits)");
            }
            if (!(e.getValue() instanceof Map<?, ?> quantities)) {
                throw WorkerException.invalid("manifest." + field + "." + kind + " must be a map of resource name to quantity");
            }
            Map<String, String> q = new LinkedHashMap<>();
            for (Map.Entry<?, ?> r : quantities.entrySet()) {
                String name = String.valueOf(r.getKey());
                String path = "manifest." + field + "." + kind + "." + WorkerException.shown(name);
                if (name.length() > 253 || !LABEL_KEY.matcher(name).matches()) {
                    throw WorkerException.invalid(path + ": not a valid resource name");
                }
                Object value = r.getValue();
                String text = value instanceof Number n ? numberText(n) : value instanceof String s ? s : null;
                if (text == null || !QUANTITY.matcher(text).matches() || text.length() > 64) {
                    throw WorkerException.invalid(path + ": not a Kubernetes quantity: " + WorkerException.shown(String.valueOf(value)));
                }
                q.put(name, text);
            }
            out.put(kind, q);
        }
        return out;
    }

    /** A list of maps passed to Kubernetes as they are (e.g. tolerations), with only the allowed keys. */
    List<Map<String, Object>> mapList(String field, Set<String> allowedKeys) {
        read.add(field);
        Object v = manifest.get(field);
        if (v == null) {
            return List.of();
        }
        if (!(v instanceof List<?> list)) {
            throw wrongType(field, "a list", v);
        }
        if (list.size() > MAX_ITEMS) {
            throw WorkerException.invalid("manifest." + field + " has more than " + MAX_ITEMS + " items");
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            if (!(list.get(i) instanceof Map<?, ?> m)) {
                throw WorkerException.invalid("manifest." + field + "[" + i + "] must be a map, got " + typeName(list.get(i)));
            }
            Map<String, Object> item = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                String key = String.valueOf(e.getKey());
                if (!allowedKeys.contains(key)) {
                    throw WorkerException.invalid("manifest." + field + "[" + i + "]." + WorkerException.shown(key) + ": unknown field (allowed: "
                            + new TreeSet<>(allowedKeys) + ")");
                }
                item.put(key, e.getValue());
            }
            out.add(item);
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    Map<String, Object> map(String field) {
        read.add(field);
        Object v = manifest.get(field);
        if (v == null) {
            return Map.of();
        }
        if (!(v instanceof Map<?, ?> m)) {
            throw wrongType(field, "a map", v);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        ((Map<Object, Object>) m).forEach((k, val) -> out.put(String.valueOf(k), val));
        return out;
    }

    private static WorkerException wrongType(String field, String expected, Object actual) {
        return WorkerException.invalid("manifest." + field + " must be " + expected + ", got " + typeName(actual));
    }
}
