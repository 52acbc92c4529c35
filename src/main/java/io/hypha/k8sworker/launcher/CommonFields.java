package io.hypha.k8sworker.launcher;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;

/** Manifest fields every job type shares (timeout, env, resources, the service wait), read and checked the same way. */
final class CommonFields {

    /** Variables the worker injects; a manifest may not override them. */
    static final Set<String> RESERVED_ENV = Set.of("HYPHA_SERVER_URL", "HYPHA_WORKSPACE", "HYPHA_CLIENT_ID", "HYPHA_APP_ID",
            "HYPHA_SESSION_ID", "HYPHA_TOKEN", "HYPHA_ARTIFACT_ID", "HYPHA_APP_FILES_BASE_URL");
    static final Set<String> TOLERATION_KEYS = Set.of("key", "operator", "value", "effect", "tolerationSeconds");

    private CommonFields() {
    }

    /**
     * Reads timeout, env, resources (with the type's default requests and limits, else the policy's)
     * and the service-wait fields.
     */
    static CompiledManifest.SessionFields read(ManifestReader m, WorkerConfig config, JobPolicy policy, Set<String> reservedEnv,
                                               String defaultServiceId, Map<String, String> typeRequests,
                                               Map<String, String> typeLimits) {
        WorkerConfig.Kubernetes k = config.kubernetes();
        long timeout = m.integer("timeout", k.defaultTimeout(), 1, k.maxTimeout());
        Map<String, String> env = m.env("env", reservedEnv);
        Map<String, Map<String, String>> resources = policy.resources(m.resources("resources"), typeRequests, typeLimits);
        boolean wait = m.bool("wait_for_service", false);
        String serviceId = m.serviceId("service_id", defaultServiceId);
        if (wait && serviceId == null) {
            throw WorkerException.invalid("manifest.service_id is required when manifest.wait_for_service is true");
        }
        return new CompiledManifest.SessionFields(timeout, env, resources, wait, serviceId, m.integer("service_timeout", 120, 1, 3600));
    }

    /**
     * The env a caller may give a job type that runs the operator's image with the operator's
     * Secrets: only the names the operator listed in {@code jobTypes.<type>.allowedEnv} (a denylist
     * could never name every variable that redirects traffic or loads code), and no {@code $(VAR)}
     * reference, which Kubernetes would expand into the value of an earlier variable such as a
     * secret.
     */
    static void checkOperatorImageEnv(Map<String, String> env, String jobType, List<String> allowedEnv) {
        List<Pattern> allowed = allowedEnv.stream().map(JobPolicy::globToRegex).toList();
        env.forEach((name, value) -> {
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
}
