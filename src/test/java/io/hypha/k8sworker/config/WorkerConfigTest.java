package io.hypha.k8sworker.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vertx.core.json.JsonObject;

class WorkerConfigTest {

    private static final Path FILE = Path.of("conf/config.yaml");

    @Test
    void theDocumentedDefaultsLoad() {
        WorkerConfig c = WorkerConfig.load(FILE, Map.of());
        assertThat(c.hypha().serviceId()).isEqualTo("k8s-worker");
        assertThat(c.hypha().visibility()).isEqualTo("protected");
        assertThat(c.kubernetes().defaultTimeout()).isEqualTo(3600);
        assertThat(c.kubernetes().imagePullPolicy()).isEqualTo("IfNotPresent");
        assertThat(c.verticles().jobLauncher()).isEqualTo(2);
        assertThat(c.kubernetes().suspendedGraceSeconds()).isEqualTo(60);
        assertThat(c.jobType("claude-agent").secretName()).isEqualTo("deno-claude-code-config");
        assertThat(c.redacted().encode()).doesNotContain("token\":\"x");
    }

    @Test
    void theOriginalWorkersVariablesAndPathVariablesOverrideTheFile() {
        WorkerConfig c = WorkerConfig.load(FILE, Map.of(
                "HYPHA_SERVER_URL", "https://hypha.example.org",
                "HYPHA_TOKEN", "secret-token",
                "HYPHA_K8S_NAMESPACE", "hypha",
                "HYPHA_K8S_DEFAULT_TIMEOUT", "600",
                "HYPHA_K8S_WORKER_VERTICLES_JOB_LAUNCHER_INSTANCES", "5",
                "HYPHA_K8S_WORKER_KUBERNETES_START_TIMEOUT_SECONDS", "42",
                "HYPHA_K8S_WORKER_KUBERNETES_SUSPENDED_GRACE_SECONDS", "7",
                "HYPHA_K8S_WORKER_JOB_TYPES_CLAUDE_AGENT_IMAGE", "registry/agent:2",
                "UNRELATED", "ignored"));
        assertThat(c.hypha().serverUrl()).isEqualTo("https://hypha.example.org");
        assertThat(c.hypha().token()).isEqualTo("secret-token");
        assertThat(c.kubernetes().namespace()).isEqualTo("hypha");
        assertThat(c.kubernetes().defaultTimeout()).isEqualTo(600);
        assertThat(c.verticles().jobLauncher()).isEqualTo(5);
        assertThat(c.kubernetes().startTimeoutSeconds()).isEqualTo(42);
        assertThat(c.kubernetes().suspendedGraceSeconds()).isEqualTo(7);
        assertThat(c.jobType("claude-agent").image()).isEqualTo("registry/agent:2");
        assertThat(c.redacted().encode()).doesNotContain("secret-token");
    }

    @Test
    void badSettingsAreRefusedAtStartUpNamingTheSetting() {
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_VISIBILITY", "everyone")))
                .hasMessageContaining("hypha.visibility");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_DEFAULT_TIMEOUT", "soon")))
                .hasMessageContaining("defaultTimeout must be a whole number");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_VERTICLES_HYPHA_BRIDGE_INSTANCES", "2")))
                .hasMessageContaining("hyphaBridge.instances");
        assertThatThrownBy(() -> WorkerConfig.load(Path.of("no/such.yaml"), Map.of())).hasMessageContaining("not found");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_KUBERNETES_JOB_NODE_SELECTOR", "real")))
                .hasMessageContaining("kubernetes.jobNodeSelector");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_KUBERNETES_JOB_TOLERATIONS", "[{\"keys\":\"x\"}]")))
                .hasMessageContaining("kubernetes.jobTolerations[0].keys");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_KUBERNETES_JOB_TOLERATIONS", "not json")))
                .hasMessageContaining("kubernetes.jobTolerations");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_RESOURCES_MAX_CPU", "lots")))
                .hasMessageContaining("policy.resources.maxCpu must be a Kubernetes quantity");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_TOTAL", "-1")))
                .hasMessageContaining("policy.maxSessionsTotal");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_KUBERNETES_SUSPENDED_GRACE_SECONDS", "0")))
                .hasMessageContaining("kubernetes.suspendedGraceSeconds");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_RESOURCES_MAX_MEMORY", "512Mi")))
                .hasMessage("policy.resources.defaultLimits.memory (1Gi) must not be more than policy.resources.maxMemory (512Mi)");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_RESOURCES_DEFAULT_REQUESTS_CPU", "2")))
                .hasMessage("policy.resources.defaultRequests.cpu (2) must not be more than policy.resources.defaultLimits.cpu (1)");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_RESOURCES_MAX_CPU", "1")))
                .hasMessage("jobTypes.claude-agent.cpuLimit (2) must not be more than policy.resources.maxCpu (1)");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_RESOURCES_MAX_MEMORY", "1Gi")))
                .hasMessage("jobTypes.claude-agent.memoryLimit (2Gi) must not be more than policy.resources.maxMemory (1Gi)");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_ALLOWED_IMAGES", "localhost:5000/**,python:3.11")))
                .hasMessageStartingWith("policy.allowedImages: 'python:3.11' has a tag or digest");
    }

    @Test
    void thePolicyIsSafeByDefaultAndItsListsComeFromTheEnvironmentAsCommaSeparatedItems() {
        WorkerConfig.Policy p = WorkerConfig.load(FILE, Map.of()).policy();
        assertThat(p.allowTolerations()).isFalse();
        assertThat(p.maxGpus()).isZero();
        assertThat(p.allowedServiceAccounts()).isEmpty();
        assertThat(p.maxSessionsPerWorkspace()).isPositive();
        assertThat(p.defaultLimits()).containsKeys("cpu", "memory");

        WorkerConfig.Policy custom = WorkerConfig.load(FILE, Map.of(
                "HYPHA_K8S_WORKER_POLICY_ALLOWED_IMAGES", "ghcr.io/org/**, docker.io/library/python",
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_WORKSPACE", "3",
                "HYPHA_K8S_WORKER_POLICY_RESOURCES_DEFAULT_LIMITS_MEMORY", "2Gi")).policy();
        assertThat(custom.allowedImages()).containsExactly("ghcr.io/org/**", "docker.io/library/python");
        assertThat(custom.maxSessionsPerWorkspace()).isEqualTo(3);
        assertThat(custom.defaultLimits()).containsEntry("memory", "2Gi");
    }

    @Test
    void claudeAgentsBuiltInResourcesAndEveryAllowedEnvAreCheckedToo(@TempDir Path dir) throws Exception {
        String shipped = Files.readString(FILE);
        Path noLimits = dir.resolve("no-limits.yaml");
        Files.writeString(noLimits, shipped.replace("    cpuLimit: \"2\"\n", ""));
        // without jobTypes.claude-agent.cpuLimit the agent's built-in limit of 2 applies, and is checked
        assertThatThrownBy(() -> WorkerConfig.load(noLimits, Map.of("HYPHA_K8S_WORKER_POLICY_RESOURCES_MAX_CPU", "1")))
                .hasMessage("jobTypes.claude-agent.cpuLimit (2) must not be more than policy.resources.maxCpu (1)");
        Path badRequest = dir.resolve("bad-request.yaml");
        Files.writeString(badRequest, shipped.replace("cpuRequest: 500m", "cpuRequest: lots"));
        assertThatThrownBy(() -> WorkerConfig.load(badRequest, Map.of()))
                .hasMessage("jobTypes.claude-agent.cpuRequest must be a Kubernetes quantity, got lots");
        Path badEnv = dir.resolve("bad-env.yaml");
        Files.writeString(badEnv, shipped.replaceFirst("allowedEnv: \\[\\]", "allowedEnv: LOG_LEVEL"));
        assertThatThrownBy(() -> WorkerConfig.load(badEnv, Map.of()))
                .hasMessage("jobTypes.claude-agent.allowedEnv must be a list of variable names, got LOG_LEVEL");
    }

    @Test
    void executeAndVolumeClaimsHaveSafeDefaultsAndCanBeSet() {
        WorkerConfig c = WorkerConfig.load(FILE, Map.of());
        assertThat(c.policy().allowExecute()).isTrue();
        assertThat(c.policy().maxExecuteOutputBytes()).isEqualTo(1048576);
        assertThat(c.policy().allowedVolumeClaims()).isEmpty();
        assertThat(c.jobTypeEnabled("k8s-pod")).isTrue();
        WorkerConfig set = WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_ALLOW_EXECUTE", "false",
                "HYPHA_K8S_WORKER_POLICY_MAX_EXECUTE_OUTPUT_BYTES", "2048", "HYPHA_K8S_WORKER_POLICY_ALLOWED_VOLUME_CLAIMS", "a,b",
                "HYPHA_K8S_WORKER_JOB_TYPES_K8S_POD_ENABLED", "false"));
        assertThat(set.policy().allowExecute()).isFalse();
        assertThat(set.policy().maxExecuteOutputBytes()).isEqualTo(2048);
        assertThat(set.policy().allowedVolumeClaims()).containsExactly("a", "b");
        assertThat(set.jobTypeEnabled("k8s-pod")).isFalse();
        assertThat(set.redacted().getJsonObject("policy").getBoolean("allowExecute")).isFalse();
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_MAX_EXECUTE_OUTPUT_BYTES", "100")))
                .hasMessageContaining("policy.maxExecuteOutputBytes must be at least 1024");
    }

    @Test
    void theSessionSizeAndLogBoundsHaveTheirDefaultsCanBeSetAndAreChecked() {
        WorkerConfig c = WorkerConfig.load(FILE, Map.of());
        assertThat(c.policy().maxManifestBytes()).isEqualTo(65536);
        assertThat(c.logs()).isEqualTo(new WorkerConfig.Logs(1000, 262144, 2.0, 10, 2, 32));
        WorkerConfig set = WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_MAX_MANIFEST_BYTES", "4096",
                "HYPHA_K8S_WORKER_LOGS_TAIL_LINES", "50", "HYPHA_K8S_WORKER_LOGS_RATE_PER_SECOND", "0.5",
                "HYPHA_K8S_WORKER_LOGS_QUEUE", "0"));
        assertThat(set.policy().maxManifestBytes()).isEqualTo(4096);
        assertThat(set.logs().tailLines()).isEqualTo(50);
        assertThat(set.logs().ratePerSecond()).isEqualTo(0.5);
        assertThat(set.logs().queue()).isZero();
        assertThat(set.redacted().getJsonObject("logs").getInteger("tailLines")).isEqualTo(50);
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_MAX_MANIFEST_BYTES", "100")))
                .hasMessageContaining("policy.maxManifestBytes must be at least 1024");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_LOGS_BURST", "0")))
                .hasMessageContaining("logs.burst must be at least 1");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_LOGS_RATE_PER_SECOND", "0")))
                .hasMessageContaining("logs.ratePerSecond must be a positive number");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_LOGS_RATE_PER_SECOND", "fast")))
                .hasMessageContaining("logs.ratePerSecond must be a number");
    }

    @Test
    void callerRulesAreStrictByDefaultAndSetFromTheEnvironment() {
        WorkerConfig.Callers c = WorkerConfig.load(FILE, Map.of()).callers();
        assertThat(c.allowAnonymous()).isFalse();
        assertThat(c.maxSessionsPerUser()).isEqualTo(10);
        assertThat(c.operatorSecretOwnWorkspace()).isFalse();
        assertThat(c.operatorSecretWorkspaces()).isEmpty();
        assertThat(c.operatorSecretUsers()).isEmpty();
        assertThat(c.maxAgentVisibility()).isEqualTo("protected");

        WorkerConfig.Callers custom = WorkerConfig.load(FILE, Map.of(
                "HYPHA_K8S_WORKER_POLICY_ALLOW_ANONYMOUS", "true",
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_USER", "0",
                "HYPHA_K8S_WORKER_POLICY_OPERATOR_SECRET_TYPES_ALLOWED_WORKSPACES", "team-a, team-b",
                "HYPHA_K8S_WORKER_POLICY_OPERATOR_SECRET_TYPES_ALLOWED_USERS", "alice",
                "HYPHA_K8S_WORKER_POLICY_OPERATOR_SECRET_TYPES_OWN_WORKSPACE", "true",
                "HYPHA_K8S_WORKER_POLICY_MAX_AGENT_VISIBILITY", "unlisted")).callers();
        assertThat(custom.allowAnonymous()).isTrue();
        assertThat(custom.maxSessionsPerUser()).isZero();
        assertThat(custom.operatorSecretWorkspaces()).containsExactly("team-a", "team-b");
        assertThat(custom.operatorSecretUsers()).containsExactly("alice");
        assertThat(custom.operatorSecretOwnWorkspace()).isTrue();
        assertThat(custom.agentVisibilityAllowed("unlisted")).isTrue();
        assertThat(custom.agentVisibilityAllowed("public")).isFalse();
        assertThat(WorkerConfig.load(FILE, Map.of()).redacted().getJsonObject("policy").getBoolean("allowAnonymous")).isFalse();
    }

    @Test
    void badCallerRulesStopTheStartWithTheSettingNamed(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_USER", "-1")))
                .hasMessage("policy.maxSessionsPerUser must not be negative");
        assertThatThrownBy(() -> WorkerConfig.load(FILE, Map.of("HYPHA_K8S_WORKER_POLICY_MAX_AGENT_VISIBILITY", "everyone")))
                .hasMessage("policy.maxAgentVisibility must be protected, unlisted or public, got everyone");
        // a job type whose own default the policy refuses would refuse every manifest that names no visibility
        Path publicAgents = dir.resolve("public-agents.yaml");
        Files.writeString(publicAgents, Files.readString(FILE).replaceFirst("(claude-agent:[\\s\\S]*?)visibility: protected",
                "$1visibility: public"));
        assertThatThrownBy(() -> WorkerConfig.load(publicAgents, Map.of()))
                .hasMessage("jobTypes.claude-agent.visibility (public) is wider than policy.maxAgentVisibility (protected)");
        assertThat(WorkerConfig.load(publicAgents, Map.of("HYPHA_K8S_WORKER_POLICY_MAX_AGENT_VISIBILITY", "public")).callers()
                .maxAgentVisibility()).isEqualTo("public");
    }

    /** Every setting's path, as redacted() names it, and whether it is marked secret. */
    private static void settingPaths(Class<?> record, String prefix, Map<String, Boolean> out) {
        for (java.lang.reflect.RecordComponent c : record.getRecordComponents()) {
            String path = prefix + c.getName();
            if (c.getType().isRecord()) {
                settingPaths(c.getType(), path + ".", out);
            } else if (c.getGenericType() instanceof java.lang.reflect.ParameterizedType p && c.getType() == Map.class
                    && p.getActualTypeArguments()[1] instanceof Class<?> value && value.isRecord()) {
                settingPaths(value, path + ".*.", out);
            } else {
                out.put(path, c.isAnnotationPresent(SecretSetting.class));
            }
        }
    }

    @Test
    void everySecretBearingSettingIsRedactedAndEveryOtherSettingShown() {
        Map<String, Boolean> paths = new java.util.TreeMap<>();
        settingPaths(WorkerConfig.class, "", paths);
        // a setting named like a credential must be marked so; names of Secrets and keys are not credentials
        java.util.regex.Pattern credential = java.util.regex.Pattern.compile("(?i).*(token|password|passphrase|apikey|credentials?)$");
        paths.forEach((path, secret) -> assertThat(secret || !credential.matcher(path).matches())
                .as(path + " looks like a credential but is not marked @SecretSetting").isTrue());
        assertThat(paths).containsEntry("hypha.token", true);

        WorkerConfig c = WorkerConfig.load(FILE, Map.of("HYPHA_TOKEN", "tok-7f3a9", "HYPHA_K8S_WORKER_JOB_TYPES_CLAUDE_AGENT_IMAGE", "agent:9"));
        JsonObject redacted = c.redacted();
        assertThat(redacted.encode()).doesNotContain("tok-7f3a9");
        assertThat(redacted.getJsonObject("hypha").getString("token")).isEqualTo("***");
        paths.forEach((path, secret) -> {
            String[] parts = path.replace("callers.", "policy.").split("\\.");
            JsonObject node = redacted;
            for (int i = 0; i < parts.length - 1; i++) {
                node = parts[i].equals("*") ? node.getJsonObject("claude-agent") : node.getJsonObject(parts[i]);
                assertThat(node).as(path).isNotNull();
            }
            assertThat(node.containsKey(parts[parts.length - 1])).as(path + " is in the log form").isTrue();
        });
        assertThat(redacted.getJsonObject("jobTypes").getJsonObject("claude-agent").getString("image")).isEqualTo("agent:9");
        assertThat(WorkerConfig.load(FILE, Map.of()).redacted().getJsonObject("hypha").getString("token")).isEmpty();
    }

    @Test
    void aFileThatLeavesOutAJobTypesSettingsGetsTheDocumentedDefaults(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("config.yaml");
        Files.writeString(file, "jobTypes:\n  claude-agent:\n    image: registry.example/agent:3\n");
        WorkerConfig c = WorkerConfig.load(file, Map.of("HYPHA_K8S_WORKER_JOB_TYPES_CONDA_WORKER_TOKEN_KEY", "TEAM_TOKEN"));
        WorkerConfig documented = WorkerConfig.load(FILE, Map.of());
        assertThat(c.jobType("claude-agent").image()).isEqualTo("registry.example/agent:3");
        assertThat(c.jobType("claude-agent").secretName()).isEqualTo(documented.jobType("claude-agent").secretName());
        assertThat(c.jobType("claude-agent").limits()).isEqualTo(documented.jobType("claude-agent").limits()).containsKeys("cpu", "memory");
        assertThat(c.jobType("conda-worker").image()).isEqualTo(documented.jobType("conda-worker").image()).isNotBlank();
        // a type's setting the file leaves out can still be set from the environment
        assertThat(c.jobType("conda-worker").tokenKey()).isEqualTo("TEAM_TOKEN");
        assertThat(c.jobTypeEnabled("k8s-pod")).isTrue();
    }
}
