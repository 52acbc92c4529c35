package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;

/** Manifest fields every job type shares (§4 of the contract), read and applied the same way. */
final class CommonFields {

    /** Variables the worker injects; a manifest may not override them. */
    static final Set<String> RESERVED_ENV = Set.of("HYPHA_SERVER_URL", "HYPHA_WORKSPACE", "HYPHA_CLIENT_ID", "HYPHA_APP_ID",
            "HYPHA_SESSION_ID", "HYPHA_TOKEN", "HYPHA_ARTIFACT_ID", "HYPHA_APP_FILES_BASE_URL");
    static final Set<String> TOLERATION_KEYS = Set.of("key", "operator", "value", "effect", "tolerationSeconds");

    private CommonFields() {
    }

    /**
     * Reads timeout, env, resources (with the type's default requests and limits, else the policy's)
     * and the service-wait fields into {@code out}.
     */
    static void read(ManifestReader m, WorkerConfig config, JobPolicy policy, Map<String, Object> out, Set<String> reservedEnv,
                     String defaultServiceId, Map<String, String> typeRequests, Map<String, String> typeLimits) {
        WorkerConfig.Kubernetes k = config.kubernetes();
        out.put("timeout", m.integer("timeout", k.defaultTimeout(), 1, k.maxTimeout()));
        out.put("env", m.env("env", reservedEnv));
        out.put("resources", policy.resources(m.resources("resources"), typeRequests, typeLimits));
        boolean wait = m.bool("wait_for_service", false);
        String serviceId = m.serviceId("service_id", defaultServiceId);
        if (wait && serviceId == null) {
            throw WorkerException.invalid("manifest.service_id is required when manifest.wait_for_service is true");
        }
        out.put("wait_for_service", wait);
        out.put("service_id", serviceId);
        out.put("service_timeout", m.integer("service_timeout", 120, 1, 3600));
    }

    /**
     * The env a caller may give a job type that runs the operator's image with the operator's
     * Secrets: only the names the operator listed in {@code jobTypes.<type>.allowedEnv} (a denylist
     * could never name every variable that redirects traffic or loads code), and no {@code $(VAR)}
     * reference, which Kubernetes would expand into the value of an earlier variable such as a
     * secret.
     */
    @SuppressWarnings("unchecked")
    static void checkOperatorImageEnv(Map<String, Object> compiled, String jobType, List<String> allowedEnv) {
        List<Pattern> allowed = allowedEnv.stream().map(JobPolicy::globToRegex).toList();
        ((Map<String, String>) compiled.get("env")).forEach((name, value) -> {
            if (allowed.stream().noneMatch(p -> p.matcher(name).matches())) {
                throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.env." + name + ": " + jobType
                        + " runs the operator's image with the operator's secrets, so callers may set only the variables in jobTypes."
                        + jobType + ".allowedEnv " + allowedEnv);
            }
            if (value.contains("$(")) {
                throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.env." + name + ": $(...) references are not allowed in "
                        + jobType + " variables (they would expand to other variables of the container, its secrets among them)");
            }
        });
    }

    @SuppressWarnings("unchecked")
    static List<EnvVar> userEnv(Map<String, Object> compiled) {
        List<EnvVar> env = new ArrayList<>();
        ((Map<String, Object>) compiled.getOrDefault("env", Map.of()))
                .forEach((k, v) -> env.add(new EnvVar(k, String.valueOf(v), null)));
        return env;
    }

    @SuppressWarnings("unchecked")
    static ResourceRequirements resources(Map<String, Object> compiled) {
        Map<String, Object> res = (Map<String, Object>) compiled.getOrDefault("resources", Map.of());
        Map<String, Quantity> requests = new LinkedHashMap<>();
        Map<String, Quantity> limits = new LinkedHashMap<>();
        if (res.get("requests") instanceof Map<?, ?> r) {
            requests.putAll(quantities((Map<String, String>) r));
        }
        if (res.get("limits") instanceof Map<?, ?> l) {
            limits.putAll(quantities((Map<String, String>) l));
        }
        return new ResourceRequirementsBuilder().withRequests(requests.isEmpty() ? null : requests)
                .withLimits(limits.isEmpty() ? null : limits).build();
    }

    private static Map<String, Quantity> quantities(Map<String, String> values) {
        Map<String, Quantity> out = new LinkedHashMap<>();
        values.forEach((k, v) -> out.put(k, new Quantity(String.valueOf(v))));
        return out;
    }

    @SuppressWarnings("unchecked")
    static List<Toleration> tolerations(Map<String, Object> compiled) {
        List<Toleration> out = new ArrayList<>();
        for (Object o : (List<Object>) compiled.getOrDefault("tolerations", List.of())) {
            Map<String, Object> t = (Map<String, Object>) o;
            Object seconds = t.get("tolerationSeconds");
            out.add(new TolerationBuilder().withKey((String) t.get("key")).withOperator((String) t.get("operator"))
                    .withValue((String) t.get("value")).withEffect((String) t.get("effect"))
                    .withTolerationSeconds(seconds instanceof Number n ? n.longValue() : null).build());
        }
        return out;
    }

    static long number(Map<String, Object> compiled, String key) {
        return ((Number) compiled.get(key)).longValue();
    }
}
