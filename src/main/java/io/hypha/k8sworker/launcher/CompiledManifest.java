package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.ResourceRequirementsBuilder;

/**
 * A manifest as its job type read it: checked, every default filled in. {@code own} holds the fields
 * of the type alone, {@code session} those every type shares. Callers and the event bus see it as
 * {@link #toMap()}, a manifest that compiles to itself.
 */
public record CompiledManifest(String type, TypeFields own, SessionFields session) {

    /** The fields one job type reads besides the shared ones. */
    public interface TypeFields {

        /** Adds the fields under their manifest names. */
        void putInto(Map<String, Object> manifest);
    }

    /**
     * The fields every job type shares: how long the Job may run, the caller's variables, the
     * resources after the policy, and the Hypha service a start waits for.
     */
    public record SessionFields(long timeout, Map<String, String> env, Map<String, Map<String, String>> resources,
                                boolean waitForService, String serviceId, long serviceTimeout) {

        void putInto(Map<String, Object> manifest) {
            manifest.put("timeout", timeout);
            manifest.put("env", env);
            manifest.put("resources", resources);
            manifest.put("wait_for_service", waitForService);
            manifest.put("service_id", serviceId);
            manifest.put("service_timeout", serviceTimeout);
        }

        /** The caller's variables, after those the worker and the type set. */
        List<EnvVar> userEnv() {
            List<EnvVar> out = new ArrayList<>();
            env.forEach((name, value) -> out.add(new EnvVar(name, value, null)));
            return out;
        }

        ResourceRequirements resourceRequirements() {
            Map<String, Quantity> requests = quantities(resources.getOrDefault("requests", Map.of()));
            Map<String, Quantity> limits = quantities(resources.getOrDefault("limits", Map.of()));
            return new ResourceRequirementsBuilder().withRequests(requests.isEmpty() ? null : requests)
                    .withLimits(limits.isEmpty() ? null : limits).build();
        }

        private static Map<String, Quantity> quantities(Map<String, String> values) {
            Map<String, Quantity> out = new LinkedHashMap<>();
            values.forEach((name, value) -> out.put(name, new Quantity(value)));
            return out;
        }
    }

    /** The manifest with its defaults: type, then the type's own fields, then the shared ones. */
    public Map<String, Object> toMap() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("type", type);
        own.putInto(out);
        session.putInto(out);
        return out;
    }
}
