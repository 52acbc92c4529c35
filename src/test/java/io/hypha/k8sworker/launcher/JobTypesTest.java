package io.hypha.k8sworker.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.hypha.k8sworker.config.WorkerConfig;

class JobTypesTest {

    private static WorkerConfig config(Map<String, String> env) {
        return WorkerConfig.load(Path.of("conf/config.yaml"), env);
    }

    @Test
    void everyEnabledTypeIsServedInOrder() {
        assertThat(JobTypes.enabled(config(Map.of())).stream().map(JobType::name))
                .containsExactly("k8s-job", "k8s-pod", "claude-agent", "conda-worker");
        assertThat(JobTypes.enabled(config(Map.of("HYPHA_K8S_WORKER_JOB_TYPES_K8S_POD_ENABLED", "false"))).stream().map(JobType::name))
                .containsExactly("k8s-job", "claude-agent", "conda-worker");
    }

    @Test
    void aTypeWithoutItsImageOrSecretStopsTheStartNamingTheSetting() {
        assertThatThrownBy(() -> config(Map.of("HYPHA_K8S_WORKER_JOB_TYPES_CLAUDE_AGENT_IMAGE", "")))
                .hasMessage("jobTypes.claude-agent.image must be set");
        assertThatThrownBy(() -> config(Map.of("HYPHA_K8S_WORKER_JOB_TYPES_CONDA_WORKER_TOKEN_SECRET", " ")))
                .hasMessage("jobTypes.conda-worker.tokenSecret must be set");
        // a disabled type needs nothing
        assertThat(JobTypes.enabled(config(Map.of("HYPHA_K8S_WORKER_JOB_TYPES_CLAUDE_AGENT_IMAGE", "",
                "HYPHA_K8S_WORKER_JOB_TYPES_CLAUDE_AGENT_ENABLED", "false"))).stream().map(JobType::name))
                .doesNotContain("claude-agent");
    }
}
