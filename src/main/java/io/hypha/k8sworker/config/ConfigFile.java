package io.hypha.k8sworker.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import io.vertx.core.json.JsonObject;

/**
 * The settings as a tree: the YAML file, the job types' settings it leaves out taken from the
 * documented defaults inside the jar ({@code conf/config.yaml}, their one home), then the
 * environment variables.
 */
final class ConfigFile {

    private static final String BUNDLED = "/config.yaml";

    /** The original worker's variables, mapped to their config paths. */
    static final Map<String, String> LEGACY_ENV = Map.ofEntries(
            Map.entry("HYPHA_SERVER_URL", "hypha.serverUrl"),
            Map.entry("HYPHA_WORKSPACE", "hypha.workspace"),
            Map.entry("HYPHA_TOKEN", "hypha.token"),
            Map.entry("HYPHA_CLIENT_ID", "hypha.clientId"),
            Map.entry("HYPHA_SERVICE_ID", "hypha.serviceId"),
            Map.entry("HYPHA_VISIBILITY", "hypha.visibility"),
            Map.entry("HYPHA_PUBLIC_SERVER_URL", "hypha.publicServerUrl"),
            Map.entry("HYPHA_K8S_NAMESPACE", "kubernetes.namespace"),
            Map.entry("HYPHA_K8S_DEFAULT_TIMEOUT", "kubernetes.defaultTimeout"),
            Map.entry("HYPHA_K8S_MAX_TIMEOUT", "kubernetes.maxTimeout"),
            Map.entry("HYPHA_K8S_IMAGE_PULL_POLICY", "kubernetes.imagePullPolicy"));

    static final String ENV_PREFIX = "HYPHA_K8S_WORKER_";

    private ConfigFile() {
    }

    /** The file (null: {@code conf/config.yaml} if present, else the defaults inside the jar), completed and overridden. */
    static JsonObject read(Path file, Map<String, String> env) {
        JsonObject tree = new JsonObject(readYaml(file));
        JsonObject defaults = bundledJobTypes();
        addJobTypeDefaults(tree, defaults);
        applyEnv(tree, env);
        requireDefaultedSettings(tree.getJsonObject("jobTypes"), defaults);
        return tree;
    }

    /**
     * A setting the documented defaults give an enabled type (its image, its Secret, ...) is one it
     * cannot run without: emptied by a file or variable, the start stops naming it.
     */
    private static void requireDefaultedSettings(JsonObject jobTypes, JsonObject defaults) {
        for (String type : defaults.fieldNames()) {
            JsonObject settings = jobTypes.getJsonObject(type);
            if (!Settings.bool(settings, "enabled", true)) {
                continue;
            }
            for (String key : defaults.getJsonObject(type, new JsonObject()).fieldNames()) {
                Object documented = defaults.getJsonObject(type).getValue(key);
                Object value = settings.getValue(key);
                if (documented instanceof String d && !d.isBlank() && (value == null || value.toString().isBlank())) {
                    throw new IllegalArgumentException("jobTypes." + type + "." + key + " must be set");
                }
            }
        }
    }

    /**
     * A job type's setting the file leaves out is the documented default: a chart or an operator's
     * file then sets only what it changes, and the images and Secrets the types use are written once.
     */
    static void addJobTypeDefaults(JsonObject tree, JsonObject defaults) {
        Object given = tree.getValue("jobTypes");
        if (given != null && !(given instanceof JsonObject)) {
            throw new IllegalArgumentException("jobTypes must be a map of job type to its settings, got " + given);
        }
        JsonObject jobTypes = given == null ? new JsonObject() : (JsonObject) given;
        for (String type : defaults.fieldNames()) {
            Object settings = jobTypes.getValue(type);
            if (settings != null && !(settings instanceof JsonObject)) {
                throw new IllegalArgumentException("jobTypes." + type + " must be a map of settings, got " + settings);
            }
            JsonObject merged = defaults.getJsonObject(type, new JsonObject()).copy();
            if (settings != null) {
                merged.mergeIn((JsonObject) settings);
            }
            jobTypes.put(type, merged);
        }
        tree.put("jobTypes", jobTypes);
    }

    private static JsonObject bundledJobTypes() {
        return new JsonObject(readYaml(null, true)).getJsonObject("jobTypes", new JsonObject());
    }

    static Map<String, Object> readYaml(Path file) {
        return readYaml(file, false);
    }

    /** {@code bundled}: the copy inside the jar, whatever the working directory holds. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> readYaml(Path file, boolean bundled) {
        Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
        try {
            Path path = file != null ? file : Path.of("conf/config.yaml");
            if (!bundled && Files.isRegularFile(path)) {
                try (InputStream in = Files.newInputStream(path)) {
                    return (Map<String, Object>) yaml.load(in);
                }
            }
            if (file != null) {
                throw new IllegalArgumentException("config file not found: " + file);
            }
            try (InputStream in = ConfigFile.class.getResourceAsStream(BUNDLED)) {
                if (in == null) {
                    throw new IllegalStateException("no conf/config.yaml and no default config in the jar");
                }
                return (Map<String, Object>) yaml.load(in);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the configuration: " + e.getMessage(), e);
        }
    }

    static void applyEnv(JsonObject tree, Map<String, String> env) {
        LEGACY_ENV.forEach((name, path) -> {
            String v = env.get(name);
            if (v != null) {
                set(tree, path, v);
            }
        });
        for (Map.Entry<String, String> e : env.entrySet()) {
            if (e.getKey().startsWith(ENV_PREFIX)) {
                String path = pathFromEnv(tree, e.getKey().substring(ENV_PREFIX.length()));
                if (path != null) {
                    set(tree, path, e.getValue());
                }
            }
        }
    }

    /** Finds the config path whose upper-cased, underscore-joined form is the variable's suffix. */
    private static String pathFromEnv(JsonObject tree, String suffix) {
        for (String path : leafPaths(tree, "")) {
            String envForm = path.replaceAll("([a-z])([A-Z])", "$1_$2").replace('.', '_').replace('-', '_').toUpperCase(Locale.ROOT);
            if (envForm.equals(suffix)) {
                return path;
            }
        }
        return null;
    }

    private static List<String> leafPaths(JsonObject node, String prefix) {
        List<String> out = new java.util.ArrayList<>();
        for (String key : node.fieldNames()) {
            Object v = node.getValue(key);
            // an empty map (e.g. kubernetes.jobNodeSelector: {}) is a setting of its own
            if (v instanceof JsonObject child && !child.isEmpty()) {
                out.addAll(leafPaths(child, prefix + key + "."));
            } else {
                out.add(prefix + key);
            }
        }
        return out;
    }

    private static void set(JsonObject tree, String path, String value) {
        String[] parts = path.split("\\.");
        JsonObject node = tree;
        for (int i = 0; i < parts.length - 1; i++) {
            JsonObject child = node.getJsonObject(parts[i]);
            if (child == null) {
                child = new JsonObject();
                node.put(parts[i], child);
            }
            node = child;
        }
        node.put(parts[parts.length - 1], value);
    }
}
