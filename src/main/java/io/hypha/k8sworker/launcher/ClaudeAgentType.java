package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;

/** {@code claude-agent}: the agent image from the worker's config, its secrets from a named Secret. */
final class ClaudeAgentType extends ManifestJobType {

    static final String NAME = "claude-agent";
    private static final Set<String> RESERVED = union(CommonFields.RESERVED_ENV, Set.of("SERVICE_ID", "SERVICE_VISIBILITY",
            "AGENT_BASE_DIRECTORY", "AGENT_MAX_COUNT", "ANTHROPIC_API_KEY"));

    ClaudeAgentType(WorkerConfig config) {
        super(NAME, config);
    }

    @Override
    protected void readFields(ManifestReader m, Map<String, Object> out) {
        String typeSecret = settings.getString("secretName", "deno-claude-code-config");
        String secret = m.dnsName("secret_name", typeSecret);
        policy.checkSecret("secret_name", secret, typeSecret);
        out.put("secret_name", secret);
        out.put("visibility", agentVisibility(m));
        CommonFields.read(m, config, policy, out, RESERVED, settings.getString("serviceId", "claude-agents"),
                Map.of("cpu", settings.getString("cpuRequest", WorkerConfig.AGENT_CPU_REQUEST),
                        "memory", settings.getString("memoryRequest", WorkerConfig.AGENT_MEMORY_REQUEST)),
                Map.of("cpu", settings.getString("cpuLimit", WorkerConfig.AGENT_CPU_LIMIT),
                        "memory", settings.getString("memoryLimit", WorkerConfig.AGENT_MEMORY_LIMIT)));
        CommonFields.checkOperatorImageEnv(out, NAME, settingsList("allowedEnv"));
    }

    @Override
    public JobPlan plan(Map<String, Object> c, LaunchRequest r) {
        String jobName = SessionMeta.jobName(r.sessionId(), r.clientId());
        String secret = (String) c.get("secret_name");
        List<EnvVar> env = new ArrayList<>(JobFactory.hyphaEnv(r));
        env.add(new EnvVar("SERVICE_ID", (String) c.get("service_id"), null));
        env.add(new EnvVar("SERVICE_VISIBILITY", (String) c.get("visibility"), null));
        env.add(new EnvVar("AGENT_BASE_DIRECTORY", "/workspace", null));
        env.add(new EnvVar("AGENT_MAX_COUNT", "1", null));
        env.add(JobFactory.fromSecret("ANTHROPIC_API_KEY", secret, "ANTHROPIC_API_KEY"));
        // a caller-given token (the app controller's) wins, so the agent joins as the expected client
        env.add(r.token() != null ? JobFactory.tokenFromSessionSecret(jobName) : JobFactory.fromSecret("HYPHA_TOKEN", secret, "HYPHA_TOKEN"));
        env.addAll(CommonFields.userEnv(c));
        return new JobPlan(settings.getString("image", "oeway/deno-claude-code:0.1.2"),
                settings.getString("imagePullPolicy", config.kubernetes().imagePullPolicy()), null, null, env,
                CommonFields.resources(c), Map.of(), List.of(), null,
                List.of(new VolumeBuilder().withName("workspace").withNewEmptyDir().endEmptyDir().build()),
                List.of(new VolumeMountBuilder().withName("workspace").withMountPath("/workspace").build()),
                "Never", 0, CommonFields.number(c, "timeout"), 1000, (Boolean) c.get("wait_for_service"),
                (String) c.get("service_id"), CommonFields.number(c, "service_timeout"));
    }

    static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> out = new java.util.HashSet<>(a);
        out.addAll(b);
        return Set.copyOf(out);
    }
}
