package io.hypha.k8sworker.bridge;

import java.util.List;
import java.util.Map;

import io.hypha.k8sworker.bus.WorkerException;

/** The job types this worker serves, each on its own bus address: which one a manifest asks for. */
record JobTypeNames(List<String> names) {

    JobTypeNames {
        names = List.copyOf(names);
    }

    /** {@code manifest.type} (k8s-job when absent), refused unless served here. */
    String of(Map<String, Object> manifest) {
        Object type = manifest.getOrDefault("type", "k8s-job");
        if (!(type instanceof String t)) {
            throw WorkerException.invalid("manifest.type must be a string");
        }
        if (!names.contains(t)) {
            throw WorkerException.invalid("manifest.type: unsupported job type '" + t + "' (supported: " + String.join(", ", names) + ")");
        }
        return t;
    }
}
