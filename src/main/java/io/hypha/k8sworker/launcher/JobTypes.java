package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.List;

import io.hypha.k8sworker.config.WorkerConfig;

/** The job types this worker knows; those enabled in the config get a handler. */
public final class JobTypes {

    private JobTypes() {
    }

    public static List<JobType> enabled(WorkerConfig config) {
        List<JobType> all = List.of(new K8sJobType(config), new K8sJobType(K8sJobType.POD_NAME, config), new ClaudeAgentType(config), new CondaWorkerType(config));
        List<JobType> out = new ArrayList<>();
        for (JobType t : all) {
            if (config.jobTypeEnabled(t.name())) {
                out.add(t);
            }
        }
        return out;
    }
}
