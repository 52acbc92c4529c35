package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

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
            "HYPHA_SESSION_ID", "HYPHA_TOKEN");
    /**
     * Variables that would send an operator-image job's traffic elsewhere or load other code into it
     * (so its secrets could leave with it): refused in the env of the types that run the operator's
     * image with the operator's secrets. Compared ignoring case.
     */
    private static final Set<String> REDIRECTING_ENV = Set.of("NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "LD_PRELOAD",
            "LD_LIBRARY_PATH", "LD_AUDIT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "BASH_ENV", "ENV");
    private static final List<String> REDIRECTING_PREFIXES = List.of("ANTHROPIC_", "DENO_", "PYTHON", "CONDA_", "MAMBA_");

    static final Set<String> TOLERATION_KEYS = Set.of("key", "operator", "value", "effect", "tolerationSeconds");

    private CommonFields() {
    }

    /**
     * Reads timeout, env, resources (with the type's default requests and limits, else the policy's)
     * and the service-wait fields into {@code out}.
     */
    static void read(ManifestReader m, WorkerConfig config, JobPolicy policy, Map<String, Object> out, Set<String> reservedEnv,
                     String defaultServiceId, boolean defaultWait, Map<String, String> typeRequests, Map<String, String> typeLimits) {
        WorkerConfig.Kubernetes k = config.kubernetes();
        out.put("timeout", m.integer("timeout", k.defaultTimeout(), 1, k.maxTimeout()));
        out.put("env", m.env("env", reservedEnv));
        out.put("resources", policy.resources(m.resources("resources"), typeRequests, typeLimits));
        boolean wait = m.bool("wait_for_service", defaultWait);
        String serviceId = m.serviceId("service_id", defaultServiceId);
        if (wait && serviceId == null) {
            throw WorkerException.invalid("manifest.service_id is required when manifest.wait_for_service is true");
        }
        out.put("wait_for_service", wait);
        out.put("service_id", serviceId);
        out.put("service_timeout", m.integer("service_timeout", 120, 1, 3600));
    }

    /** Refuses {@link #REDIRECTING_ENV}, the {@link #REDIRECTING_PREFIXES} and any {@code *_PROXY} in {@code manifest.env}. */
    @SuppressWarnings("unchecked")
    static void refuseRedirectingEnv(Map<String, Object> compiled, String jobType) {
        for (String name : ((Map<String, String>) compiled.get("env")).keySet()) {
            String upper = name.toUpperCase(Locale.ROOT);
            if (REDIRECTING_ENV.contains(upper) || upper.endsWith("_PROXY") || REDIRECTING_PREFIXES.stream().anyMatch(upper::startsWith)) {
                throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.env." + name + ": " + jobType
                        + " runs the operator's image with the operator's secrets, so its env may not set proxies, "
                        + String.join("*, ", REDIRECTING_PREFIXES) + "*, or variables that load code or certificates");
            }
        }
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
