package io.hypha.k8sworker.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.fabric8.kubernetes.api.model.PodSpec;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;

class JobPolicyTest {

    private static WorkerConfig config(Map<String, String> env) {
        return WorkerConfig.load(Path.of("conf/config.yaml"), env);
    }

    private static Map<String, Object> compile(JobType type, Map<String, Object> manifest) {
        return type.compile(manifest).toMap();
    }

    private static ErrorCode refusal(Runnable r) {
        try {
            r.run();
        } catch (WorkerException e) {
            return e.code();
        }
        throw new AssertionError("not refused");
    }

    @Test
    void imageReferencesAreMatchedOnRegistryAndRepositoryWithDockersDefaults() {
        assertThat(JobPolicy.repository("python:3.11")).isEqualTo("docker.io/library/python");
        assertThat(JobPolicy.repository("oeway/deno-claude-code:0.1.2")).isEqualTo("docker.io/oeway/deno-claude-code");
        assertThat(JobPolicy.repository("ghcr.io/org/team/app@sha256:abc")).isEqualTo("ghcr.io/org/team/app");
        assertThat(JobPolicy.repository("localhost:5000/app:1")).isEqualTo("localhost:5000/app");
        assertThat(JobPolicy.repository("docker.io/busybox")).isEqualTo("docker.io/library/busybox");
        // an upper-case first component is a registry to Docker, not a Docker Hub user
        assertThat(JobPolicy.repository("Evil/app:1")).isEqualTo("Evil/app");
        assertThat(JobPolicy.repository("index.docker.io/org/app")).isEqualTo("docker.io/org/app");
        assertThat(JobPolicy.repository("index.docker.io/python")).isEqualTo("docker.io/library/python");
        assertThat(JobPolicy.globToRegex("ghcr.io/org/*").matcher("ghcr.io/org/app").matches()).isTrue();
        assertThat(JobPolicy.globToRegex("ghcr.io/org/*").matcher("ghcr.io/org/team/app").matches()).isFalse();
        assertThat(JobPolicy.globToRegex("ghcr.io/org/**").matcher("ghcr.io/org/team/app").matches()).isTrue();
        assertThat(JobPolicy.globToRegex("ghcr.io/org/**").matcher("ghcr.io/organisation/app").matches()).isFalse();
    }

    @Test
    void anImageOutsideTheAllowedPatternsIsForbiddenNamingFieldAndSetting() {
        K8sJobType type = new K8sJobType(config(Map.of("HYPHA_K8S_WORKER_POLICY_ALLOWED_IMAGES", "ghcr.io/org/**,docker.io/library/python")));
        assertThat(compile(type, Map.of("image", "python:3.11"))).containsEntry("image", "python:3.11");
        assertThat(compile(type, Map.of("image", "ghcr.io/org/a/b:1"))).containsEntry("image", "ghcr.io/org/a/b:1");
        assertThatThrownBy(() -> compile(type, Map.of("image", "evil.example/python:3.11")))
                .hasMessageStartingWith("manifest.image: evil.example/python is not an allowed image")
                .hasMessageContaining("policy.allowedImages");
        assertThat(refusal(() -> compile(type, Map.of("image", "busybox")))).isEqualTo(ErrorCode.FORBIDDEN);
        K8sJobType hubUsers = new K8sJobType(config(Map.of("HYPHA_K8S_WORKER_POLICY_ALLOWED_IMAGES", "docker.io/*/*")));
        assertThat(compile(hubUsers, Map.of("image", "org/app"))).containsEntry("image", "org/app");
        assertThat(refusal(() -> compile(hubUsers, Map.of("image", "Evil/app")))).isEqualTo(ErrorCode.FORBIDDEN);
    }

    @Test
    @SuppressWarnings("unchecked")
    void jobsNamingNoResourcesGetTheDefaultsAndCompilingTheResultChangesNothing() {
        K8sJobType type = new K8sJobType(config(Map.of()));
        Map<String, Object> compiled = compile(type, Map.of("image", "python:3.11"));
        Map<String, Map<String, String>> res = (Map<String, Map<String, String>>) compiled.get("resources");
        assertThat(res.get("requests")).containsEntry("cpu", "100m").containsEntry("memory", "256Mi");
        assertThat(res.get("limits")).containsEntry("cpu", "1").containsEntry("memory", "1Gi");
        assertThat(compile(type, compiled)).isEqualTo(compiled);

        // a request above the default limit raises the limit with it; a limit below the default request lowers the request
        Map<String, Object> big = compile(type, Map.of("image", "python:3.11",
                "resources", Map.of("requests", Map.of("cpu", "2"), "limits", Map.of("memory", "128Mi"))));
        res = (Map<String, Map<String, String>>) big.get("resources");
        assertThat(res.get("limits")).containsEntry("cpu", "2").containsEntry("memory", "128Mi");
        assertThat(res.get("requests")).containsEntry("cpu", "2").containsEntry("memory", "128Mi");

        LaunchRequest r = new LaunchRequest("ws/c", "app", "ws", "c", "http://h", null, "ws/x", null, Map.of());
        PodSpec pod = new JobFactory(config(Map.of())).job(r, type.name(), type.plan(type.compile(big), r), SessionMeta.jobName("ws/c", "c"))
                .getSpec().getTemplate().getSpec();
        assertThat(pod.getContainers().get(0).getResources().getLimits().get("cpu").toString()).isEqualTo("2");
    }

    @Test
    void resourcesAboveTheMaximumAreForbiddenAndRequestsAboveLimitsInvalid() {
        K8sJobType type = new K8sJobType(config(Map.of("HYPHA_K8S_WORKER_POLICY_RESOURCES_MAX_CPU", "2")));
        assertThatThrownBy(() -> compile(type, Map.of("image", "python:3.11", "resources", Map.of("limits", Map.of("cpu", "2500m")))))
                .hasMessage("manifest.resources.limits.cpu: 2500m is more than a job may have (policy.resources.maxCpu: 2)");
        assertThatThrownBy(() -> compile(type, Map.of("image", "python:3.11", "resources", Map.of("requests", Map.of("memory", "17Gi")))))
                .hasMessageContaining("manifest.resources.requests.memory: 17Gi").hasMessageContaining("policy.resources.maxMemory");
        assertThatThrownBy(() -> compile(type, Map.of("image", "python:3.11",
                "resources", Map.of("requests", Map.of("cpu", "1500m"), "limits", Map.of("cpu", "1")))))
                .hasMessage("manifest.resources.requests.cpu (1500m) is more than manifest.resources.limits.cpu (1)");
    }

    @Test
    void gpusAreWholeNumbersUpToThePolicysMaximumWhichIsZeroByDefault() {
        Map<String, Object> oneGpu = Map.of("image", "python:3.11", "resources", Map.of("limits", Map.of("nvidia.com/gpu", 1)));
        assertThatThrownBy(() -> compile(new K8sJobType(config(Map.of())), oneGpu))
                .hasMessageContaining("manifest.resources.limits.nvidia.com/gpu: 1 GPU(s)").hasMessageContaining("policy.resources.maxGpus: 0");
        K8sJobType gpus = new K8sJobType(config(Map.of("HYPHA_K8S_WORKER_POLICY_RESOURCES_MAX_GPUS", "1")));
        assertThat(compile(gpus, oneGpu)).containsKey("resources");
        assertThatThrownBy(() -> compile(gpus, Map.of("image", "python:3.11", "resources", Map.of("limits", Map.of("nvidia.com/gpu", "500m")))))
                .hasMessageContaining("must be a whole number of GPUs");
    }

    @Test
    void onlyCpuMemoryAndGpusMayBeAskedForAndNoLimitMayBeZeroOrBelow() {
        K8sJobType type = new K8sJobType(config(Map.of("HYPHA_K8S_WORKER_POLICY_RESOURCES_MAX_GPUS", "1")));
        for (String unbounded : List.of("nvidia.com/gpu.shared", "nvidia.com/mig-1g.5gb", "gpu.intel.com/i915", "google.com/tpu",
                "ephemeral-storage", "hugepages-2Mi")) {
            assertThatThrownBy(() -> compile(type, Map.of("image", "python:3.11", "resources", Map.of("limits", Map.of(unbounded, "1")))))
                    .hasMessage("manifest.resources.limits." + unbounded + ": jobs here may ask for cpu, memory and <vendor>/gpu only")
                    .extracting(e -> ((WorkerException) e).code()).isEqualTo(ErrorCode.FORBIDDEN);
        }
        // a limit of 0 would leave the container unbounded rather than stopped
        assertThatThrownBy(() -> compile(type, Map.of("image", "python:3.11", "resources", Map.of("limits", Map.of("cpu", "0")))))
                .hasMessage("manifest.resources.limits.cpu must be more than 0, got 0");
        assertThatThrownBy(() -> compile(type, Map.of("image", "python:3.11", "resources", Map.of("limits", Map.of("memory", 0)))))
                .hasMessage("manifest.resources.limits.memory must be more than 0, got 0");
        assertThatThrownBy(() -> compile(type, Map.of("image", "python:3.11", "resources", Map.of("requests", Map.of("memory", "-1Gi")))))
                .hasMessage("manifest.resources.requests.memory must not be negative, got -1Gi");
        assertThat(compile(type, Map.of("image", "python:3.11", "resources", Map.of("requests", Map.of("cpu", "0"))))).containsKey("resources");
        assertThat(compile(type, Map.of("image", "python:3.11", "resources", Map.of("limits", Map.of("nvidia.com/gpu", 0))))).containsKey("resources");
        // the reader's pattern lets "1.5.5" through; the refusal still names the field
        assertThatThrownBy(() -> compile(type, Map.of("image", "python:3.11", "resources", Map.of("limits", Map.of("memory", "1.5.5")))))
                .hasMessage("manifest.resources.limits.memory: not a Kubernetes quantity: 1.5.5");
    }

    @Test
    void agentTypesTakeOnlyTheEnvTheOperatorAllowsAndNoReferencesToOtherVariables(@TempDir Path dir) throws Exception {
        WorkerConfig strict = config(Map.of());
        for (String name : List.of("ANTHROPIC_BASE_URL", "HTTPS_PROXY", "PIP_INDEX_URL", "OTEL_EXPORTER_OTLP_HEADERS", "LOG_LEVEL")) {
            assertThatThrownBy(() -> compile(new ClaudeAgentType(strict), Map.of("type", "claude-agent", "env", Map.of(name, "x"))))
                    .hasMessage("manifest.env." + name + ": claude-agent runs the operator's image with the operator's secrets, "
                            + "so callers may set only the variables in jobTypes.claude-agent.allowedEnv []")
                    .extracting(e -> ((WorkerException) e).code()).isEqualTo(ErrorCode.FORBIDDEN);
            assertThatThrownBy(() -> compile(new CondaWorkerType(strict), Map.of("type", "conda-worker", "env", Map.of(name, "x"))))
                    .hasMessageStartingWith("manifest.env." + name + ": conda-worker runs the operator's image");
        }
        Path file = dir.resolve("config.yaml");
        Files.writeString(file, Files.readString(Path.of("conf/config.yaml"))
                .replace("allowedEnv: []", "allowedEnv: [LOG_LEVEL, \"AGENT_*\"]"));
        WorkerConfig lenient = WorkerConfig.load(file, Map.of());
        ClaudeAgentType agent = new ClaudeAgentType(lenient);
        assertThat(compile(agent, Map.of("type", "claude-agent", "env", Map.of("LOG_LEVEL", "debug", "AGENT_MODE", "plan"))))
                .containsEntry("env", Map.of("LOG_LEVEL", "debug", "AGENT_MODE", "plan"));
        assertThatThrownBy(() -> compile(agent, Map.of("type", "claude-agent", "env", Map.of("HTTPS_PROXY", "http://p:3128"))))
                .hasMessageContaining("jobTypes.claude-agent.allowedEnv [LOG_LEVEL, AGENT_*]");
        // Kubernetes would expand $(ANTHROPIC_API_KEY) from the container's earlier variables
        assertThatThrownBy(() -> compile(agent, Map.of("type", "claude-agent", "env", Map.of("LOG_LEVEL", "$(ANTHROPIC_API_KEY)"))))
                .hasMessageStartingWith("manifest.env.LOG_LEVEL: $(...) references are not allowed in claude-agent variables");
        // a k8s-job runs the caller's own image and gets no operator secret: its env is the caller's business
        assertThat(compile(new K8sJobType(strict), Map.of("image", "python:3.11", "env", Map.of("HTTPS_PROXY", "http://p:3128"))))
                .containsKey("env");
    }

    @Test
    void condaWorkersReadOnlyTheConfiguredKeyOfTheirOwnTokenSecret() {
        CondaWorkerType conda = new CondaWorkerType(config(Map.of("HYPHA_K8S_WORKER_POLICY_ALLOWED_SECRET_NAMES", "team-token")));
        assertThat(compile(conda, Map.of("type", "conda-worker"))).containsEntry("token_key", "HYPHA_AGENTS_TOKEN");
        assertThatThrownBy(() -> compile(conda, Map.of("type", "conda-worker", "token_key", "ADMIN_TOKEN")))
                .hasMessageStartingWith("manifest.token_key: only 'HYPHA_AGENTS_TOKEN' may be read from hypha-secrets")
                .extracting(e -> ((WorkerException) e).code()).isEqualTo(ErrorCode.FORBIDDEN);
        assertThat(compile(conda, Map.of("type", "conda-worker", "token_secret", "team-token", "token_key", "TOKEN")))
                .containsEntry("token_key", "TOKEN");
        assertThatThrownBy(() -> compile(conda, Map.of("type", "conda-worker", "token_secret", "team-token", "token_key", "a/b")))
                .hasMessageStartingWith("manifest.token_key must be a key of a Secret");
    }

    @Test
    void placementServiceAccountsAndSecretsNeedThePolicysConsent() {
        K8sJobType strict = new K8sJobType(config(Map.of("HYPHA_K8S_WORKER_POLICY_ALLOW_NODE_SELECTOR", "false")));
        assertThatThrownBy(() -> compile(strict, Map.of("image", "python:3.11", "node_selector", Map.of("disk", "ssd"))))
                .hasMessageStartingWith("manifest.node_selector:").hasMessageContaining("policy.allowNodeSelector");
        assertThatThrownBy(() -> compile(strict, Map.of("image", "python:3.11", "tolerations", List.of(Map.of("key", "gpu", "operator", "Exists")))))
                .hasMessageStartingWith("manifest.tolerations:").hasMessageContaining("policy.allowTolerations");
        assertThatThrownBy(() -> compile(strict, Map.of("image", "python:3.11", "service_account", "builder")))
                .hasMessageStartingWith("manifest.service_account: 'builder' is not an allowed service account");
        assertThatThrownBy(() -> compile(strict, Map.of("image", "python:3.11",
                "secret_env", Map.of("API_KEY", Map.of("secret", "db-creds", "key", "password")))))
                .hasMessageStartingWith("manifest.secret_env.API_KEY.secret: 'db-creds' is not an allowed secret");

        WorkerConfig lenient = config(Map.of("HYPHA_K8S_WORKER_POLICY_ALLOW_TOLERATIONS", "true",
                "HYPHA_K8S_WORKER_POLICY_ALLOWED_SERVICE_ACCOUNTS", "builder", "HYPHA_K8S_WORKER_POLICY_ALLOWED_SECRET_NAMES", "db-creds"));
        K8sJobType type = new K8sJobType(lenient);
        Map<String, Object> compiled = compile(type, Map.of("image", "python:3.11", "service_account", "builder",
                "tolerations", List.of(Map.of("key", "gpu", "operator", "Exists")),
                "secret_env", Map.of("API_KEY", Map.of("secret", "db-creds", "key", "password"))));
        LaunchRequest r = new LaunchRequest("ws/c", "app", "ws", "c", "http://h", null, "ws/x", null, Map.of());
        PodSpec pod = new JobFactory(lenient).job(r, type.name(), type.plan(type.compile(compiled), r), SessionMeta.jobName("ws/c", "c"))
                .getSpec().getTemplate().getSpec();
        assertThat(pod.getServiceAccountName()).isEqualTo("builder");
        assertThat(pod.getAutomountServiceAccountToken()).isTrue();
        assertThat(pod.getTolerations()).hasSize(1);
        assertThat(pod.getContainers().get(0).getEnv()).anyMatch(e -> e.getName().equals("API_KEY")
                && e.getValueFrom().getSecretKeyRef().getName().equals("db-creds") && e.getValueFrom().getSecretKeyRef().getKey().equals("password"));
    }

    @Test
    void agentTypesMayNameTheirOwnSecretOrAnAllowedOneOnly() {
        WorkerConfig c = config(Map.of("HYPHA_K8S_WORKER_POLICY_ALLOWED_SECRET_NAMES", "team-agent-keys"));
        ClaudeAgentType agent = new ClaudeAgentType(c);
        assertThat(compile(agent, Map.of("type", "claude-agent"))).containsEntry("secret_name", "deno-claude-code-config");
        assertThat(compile(agent, Map.of("type", "claude-agent", "secret_name", "team-agent-keys"))).containsEntry("secret_name", "team-agent-keys");
        assertThatThrownBy(() -> compile(agent, Map.of("type", "claude-agent", "secret_name", "hypha-secrets")))
                .hasMessageStartingWith("manifest.secret_name: 'hypha-secrets' is not an allowed secret");
        CondaWorkerType conda = new CondaWorkerType(c);
        assertThatThrownBy(() -> compile(conda, Map.of("type", "conda-worker", "token_secret", "deno-claude-code-config")))
                .hasMessageStartingWith("manifest.token_secret:");
        // the agent's own defaults (500m / 2 cpu) apply instead of the policy's
        @SuppressWarnings("unchecked")
        Map<String, Map<String, String>> res = (Map<String, Map<String, String>>) compile(agent, Map.of("type", "claude-agent")).get("resources");
        assertThat(res.get("requests")).containsEntry("cpu", "500m");
        assertThat(res.get("limits")).containsEntry("memory", "2Gi");
    }

    @Test
    void agentsRegisterNoWiderThanPolicyMaxAgentVisibilityAndTheRefusalNamesTheField() {
        for (JobType t : List.<JobType>of(new ClaudeAgentType(config(Map.of())), new CondaWorkerType(config(Map.of())))) {
            assertThat(compile(t, Map.of("type", t.name()))).containsEntry("visibility", "protected");
            for (String wider : List.of("unlisted", "public")) {
                assertThatThrownBy(() -> compile(t, Map.of("type", t.name(), "visibility", wider)))
                        .hasMessage("manifest.visibility: " + wider + " is wider than agents may register with here "
                                + "(policy.maxAgentVisibility: protected)")
                        .extracting(e -> ((WorkerException) e).code()).isEqualTo(ErrorCode.FORBIDDEN);
            }
        }
        WorkerConfig open = config(Map.of("HYPHA_K8S_WORKER_POLICY_MAX_AGENT_VISIBILITY", "public"));
        assertThat(compile(new CondaWorkerType(open), Map.of("type", "conda-worker", "visibility", "public")))
                .containsEntry("visibility", "public");
        WorkerConfig unlisted = config(Map.of("HYPHA_K8S_WORKER_POLICY_MAX_AGENT_VISIBILITY", "unlisted"));
        assertThat(compile(new ClaudeAgentType(unlisted), Map.of("type", "claude-agent", "visibility", "unlisted")))
                .containsEntry("visibility", "unlisted");
        assertThat(refusal(() -> compile(new ClaudeAgentType(unlisted), Map.of("type", "claude-agent", "visibility", "public"))))
                .isEqualTo(ErrorCode.FORBIDDEN);
    }
}
