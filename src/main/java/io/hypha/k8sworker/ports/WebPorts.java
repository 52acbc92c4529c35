package io.hypha.k8sworker.ports;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.JsonValues;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.vertx.core.json.JsonArray;

/**
 * {@code manifest.ports}: {@code [{"port": 8000, "name": "http", "service_id": "my-api", "visibility": "protected"}]},
 * read field by field (every error names its field) within the operator's {@code ports} settings,
 * and carried on the Job as one annotation so that a restarted worker publishes the same ports again.
 */
public final class WebPorts {

    /** The Job annotation holding the compiled ports (a JSON array). */
    public static final String ANNOTATION = io.hypha.k8sworker.kube.SessionMeta.PORTS;

    /** The fields of one port. */
    public static final Set<String> KEYS = Set.of("port", "name", "service_id", "visibility");
    private static final Pattern NAME = Pattern.compile("[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?");
    private static final Pattern SERVICE_ID = Pattern.compile("[A-Za-z0-9_-]{1,63}");

    private WebPorts() {
    }

    /**
     * The compiled ports of a manifest's {@code ports} value (null: none), each with its name; the
     * service id stays null where the caller gave none, until {@link #forSession} derives it.
     */
    public static List<WebPort> read(Object value, WorkerConfig.Ports settings) {
        if (value == null) {
            return List.of();
        }
        if (!(value instanceof List<?> items)) {
            throw WorkerException.invalid("manifest.ports must be a list of {port, name, service_id, visibility}, got "
                    + typeName(value));
        }
        if (items.size() > settings.maxPerSession()) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.ports: " + items.size() + " ports, more than the "
                    + settings.maxPerSession() + " a session may publish here (ports.maxPerSession)");
        }
        List<WebPort> out = new ArrayList<>();
        Set<Integer> numbers = new HashSet<>();
        Set<String> names = new HashSet<>();
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < items.size(); i++) {
            String path = "manifest.ports[" + i + "]";
            if (!(items.get(i) instanceof Map<?, ?> item)) {
                throw WorkerException.invalid(path + " must be a map such as {\"port\": 8000}, got " + typeName(items.get(i)));
            }
            for (Object key : item.keySet()) {
                if (!KEYS.contains(String.valueOf(key))) {
                    throw WorkerException.invalid(path + "." + WorkerException.shown(String.valueOf(key)) + ": unknown field (one of "
                            + new java.util.TreeSet<>(KEYS) + ")");
                }
            }
            Object portValue = item.get("port");
            if (!(portValue instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.longValue() < 1 || n.longValue() > 65535) {
                throw WorkerException.invalid(path + ".port must be a whole number from 1 to 65535, got " + shownValue(portValue));
            }
            int port = n.intValue();
            if (!numbers.add(port)) {
                throw WorkerException.invalid(path + ".port: " + port + " is listed twice");
            }
            String name = string(item.get("name"), path + ".name");
            if (name == null) {
                name = "p" + port;
            } else if (!NAME.matcher(name).matches()) {
                throw WorkerException.invalid(path + ".name must be 1 to 15 lower-case letters, digits and '-' (a Kubernetes port name), got '"
                        + WorkerException.shown(name) + "'");
            }
            if (!names.add(name)) {
                throw WorkerException.invalid(path + ".name: '" + name + "' is used twice");
            }
            String serviceId = string(item.get("service_id"), path + ".service_id");
            if (serviceId != null && !SERVICE_ID.matcher(serviceId).matches()) {
                throw WorkerException.invalid(path + ".service_id must be 1 to 63 characters of letters, digits, '_' and '-', got '"
                        + WorkerException.shown(serviceId) + "'");
            }
            if (serviceId != null && !ids.add(serviceId)) {
                throw WorkerException.invalid(path + ".service_id: '" + serviceId + "' is used twice");
            }
            String visibility = string(item.get("visibility"), path + ".visibility");
            if (visibility == null) {
                visibility = "protected";
            } else if (!WorkerConfig.Callers.VISIBILITIES.contains(visibility)) {
                throw WorkerException.invalid(path + ".visibility must be one of " + WorkerConfig.Callers.VISIBILITIES + ", got '"
                        + WorkerException.shown(visibility) + "'");
            }
            if (!settings.visibilityAllowed(visibility)) {
                throw new WorkerException(ErrorCode.FORBIDDEN, path + ".visibility: " + visibility + " is wider than ports may be "
                        + "published with here (ports.maxVisibility: " + settings.maxVisibility() + ")");
            }
            out.add(new WebPort(port, name, serviceId, visibility));
        }
        return out;
    }

    /** The ports of a session with every service id set: those the caller gave none get {@link #derivedServiceId}. */
    public static List<WebPort> forSession(List<WebPort> ports, String sessionId) {
        return ports.stream().map(p -> p.serviceId() != null ? p
                : new WebPort(p.port(), p.name(), derivedServiceId(sessionId, p.name()), p.visibility())).toList();
    }

    /** Compiled ports from the compiled manifest's plain maps. */
    @SuppressWarnings("unchecked")
    public static List<WebPort> fromPlain(Object compiled) {
        if (!(compiled instanceof List<?> l)) {
            return List.of();
        }
        return l.stream().map(o -> WebPort.fromJson(new io.vertx.core.json.JsonObject((Map<String, Object>) o))).toList();
    }

    /** Puts a launched session's ports on its Job, as {@link #ANNOTATION}. */
    public static void annotate(io.fabric8.kubernetes.api.model.batch.v1.Job job, Object compiledPorts, String sessionId) {
        String value = annotation(forSession(fromPlain(compiledPorts), sessionId));
        if (value != null) {
            job.getMetadata().getAnnotations().put(ANNOTATION, value);
        }
    }

    /**
     * A port's service id when the manifest gives none: the session's client id made readable, a hash
     * of the whole session id (two workspaces may use the same client id) and the port's name.
     */
    static String derivedServiceId(String sessionId, String name) {
        String clientId = sessionId.substring(sessionId.indexOf('/') + 1);
        String readable = clientId.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]+", "-").replaceAll("-+", "-").replaceAll("^-|-$", "");
        if (readable.length() > 30) {
            readable = readable.substring(0, 30).replaceAll("-$", "");
        }
        return (readable.isEmpty() ? "app" : readable) + "-" + hash(sessionId) + "-" + name;
    }

    private static String hash(String s) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 4);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The annotation value of compiled ports, or null when there are none. */
    public static String annotation(List<WebPort> ports) {
        if (ports.isEmpty()) {
            return null;
        }
        JsonArray a = new JsonArray();
        ports.forEach(p -> a.add(p.toJson()));
        return a.encode();
    }

    /** The ports of a Job's annotation; none when it is absent or unreadable (a Job edited by hand). */
    public static List<WebPort> fromAnnotation(String value) {
        if (value == null || value.isBlank()) {
            return List.of();
        }
        try {
            List<WebPort> out = new ArrayList<>();
            new JsonArray(value).forEach(o -> out.add(WebPort.fromJson((io.vertx.core.json.JsonObject) o)));
            return out;
        } catch (RuntimeException e) {
            return List.of();
        }
    }

    /** As plain lists and maps, for the compiled manifest. */
    public static List<Map<String, Object>> plain(List<WebPort> ports) {
        return ports.stream().map(p -> {
            Map<String, Object> m = new java.util.LinkedHashMap<>(p.toJson().getMap());
            m.values().removeIf(java.util.Objects::isNull);
            return m;
        }).toList();
    }

    private static String string(Object v, String path) {
        if (v == null) {
            return null;
        }
        if (!(v instanceof String s)) {
            throw WorkerException.invalid(path + " must be a string, got " + typeName(v));
        }
        return s;
    }

    private static String shownValue(Object v) {
        return v == null ? "nothing" : v instanceof String s ? "'" + WorkerException.shown(s) + "'" : WorkerException.shown(String.valueOf(v));
    }

    private static String typeName(Object v) {
        return JsonValues.kindOf(v, "nothing");
    }
}
