package io.hypha.k8sworker.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * {@code jobTypes.<name>}: whether the type is served, and for the types that run the operator's
 * image with the operator's Secrets, that image and those Secrets. What the file leaves out is
 * conf/config.yaml's (see {@link ConfigFile}); null where neither sets it.
 *
 * @param imagePullPolicy null: {@code kubernetes.imagePullPolicy}
 * @param secretName the Secret a claude-agent reads its API key (and Hypha token) from
 * @param tokenSecret the Secret a conda-worker reads its Hypha token from, at {@code tokenKey}
 * @param requests cpu and memory requests ({@code cpuRequest}, {@code memoryRequest}); those left out are the policy's
 * @param limits cpu and memory limits ({@code cpuLimit}, {@code memoryLimit}); those left out are the policy's
 * @param allowedEnv the variables (names or globs) callers may set in manifest.env
 */
public record JobTypeSettings(boolean enabled, String image, String imagePullPolicy, String serviceId, String secretName,
                              String tokenSecret, String tokenKey, String visibility, Map<String, String> requests,
                              Map<String, String> limits, List<String> allowedEnv) {

    /** The visibility an agent registers with when neither manifest nor settings name one. */
    static final String DEFAULT_VISIBILITY = "protected";

    static JobTypeSettings fromJson(String type, JsonObject o) {
        Object allowedEnv = o.getValue("allowedEnv");
        if (allowedEnv != null && !(allowedEnv instanceof JsonArray a && a.stream().allMatch(String.class::isInstance))) {
            throw new IllegalArgumentException("jobTypes." + type + ".allowedEnv must be a list of variable names, got " + allowedEnv);
        }
        return new JobTypeSettings(Settings.bool(o, "enabled", true), Settings.str(o, "image", null),
                Settings.str(o, "imagePullPolicy", null), Settings.str(o, "serviceId", null), Settings.str(o, "secretName", null),
                Settings.str(o, "tokenSecret", null), Settings.str(o, "tokenKey", null),
                Settings.str(o, "visibility", DEFAULT_VISIBILITY),
                sized(o, "cpuRequest", "memoryRequest"), sized(o, "cpuLimit", "memoryLimit"),
                Settings.list(o, "allowedEnv", List.of()));
    }

    /** A type the file does not mention: served, with no settings of its own. */
    static JobTypeSettings unset() {
        return fromJson("", new JsonObject());
    }

    private static Map<String, String> sized(JsonObject o, String cpuKey, String memoryKey) {
        Map<String, String> out = new LinkedHashMap<>();
        if (o.getValue(cpuKey) != null) {
            out.put("cpu", o.getValue(cpuKey).toString());
        }
        if (o.getValue(memoryKey) != null) {
            out.put("memory", o.getValue(memoryKey).toString());
        }
        return Map.copyOf(out);
    }
}
