package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import io.hypha.k8sworker.config.WorkerConfig;

/** The job types this worker knows; those enabled in the config get a handler. */
public final class JobTypes {

    /** Every known type by name, in the order they are served: a new type is one class and one line here. */
    private static final List<Map.Entry<String, Function<WorkerConfig, JobType>>> KNOWN = List.of(
            Map.entry(K8sJobType.NAME, K8sJobType::new),
            Map.entry(K8sJobType.POD_NAME, config -> new K8sJobType(K8sJobType.POD_NAME, config)),
            Map.entry(ClaudeAgentType.NAME, ClaudeAgentType::new),
            Map.entry(CondaWorkerType.NAME, CondaWorkerType::new));

    private JobTypes() {
    }

    /** The enabled types, each built from its settings. */
    public static List<JobType> enabled(WorkerConfig config) {
        List<JobType> out = new ArrayList<>();
        for (Map.Entry<String, Function<WorkerConfig, JobType>> type : KNOWN) {
            if (config.jobTypeEnabled(type.getKey())) {
                out.add(type.getValue().apply(config));
            }
        }
        return out;
    }
}
