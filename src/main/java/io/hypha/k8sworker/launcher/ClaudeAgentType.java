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
final class ClaudeAgentType extends ManifestJobType<ClaudeAgentType.Fields> {

    static final String NAME = "claude-agent";
    private static final Set<String> RESERVED = union(CommonFields.RESERVED_ENV, Set.of("SERVICE_ID", "SERVICE_VISIBILITY",
            "AGENT_BASE_DIRECTORY", "AGENT_MAX_COUNT", "ANTHROPIC_API_KEY"));

    /** The Secret holding the agent's API key (and its Hypha token), and the visibility it registers with. */
    record Fields(String secretName, String visibility) implements CompiledManifest.TypeFields {
        @Override
        public void putInto(Map<String, Object> manifest) {
            manifest.put("secret_name", secretName);
            manifest.put("visibility", visibility);
        }
    }

    ClaudeAgentType(WorkerConfig config) {
        super(NAME, Fields.class, config);
    }

    @Override
    protected Fields readOwn(ManifestReader m) {
        String typeSecret = settings.secretName();
        String secret = m.dnsName("secret_name", typeSecret);
        policy.checkSecret("secret_name", secret, typeSecret);
        return new Fields(secret, agentVisibility(m));
    }

    @Override
    protected CompiledManifest.SessionFields readSession(ManifestReader m, Fields own) {
        CompiledManifest.SessionFields session = CommonFields.read(m, config, policy, RESERVED, settings.serviceId(), settings.requests(),
                settings.limits());
        CommonFields.checkOperatorImageEnv(session.env(), NAME, settings.allowedEnv());
        return session;
    }

    @Override
    protected JobPlan plan(Fields own, CompiledManifest.SessionFields session, LaunchRequest r) {
        String jobName = SessionMeta.jobName(r.sessionId(), r.clientId());
        List<EnvVar> env = new ArrayList<>(JobFactory.hyphaEnv(r));
        env.add(new EnvVar("SERVICE_ID", session.serviceId(), null));
        env.add(new EnvVar("SERVICE_VISIBILITY", own.visibility(), null));
        env.add(new EnvVar("AGENT_BASE_DIRECTORY", "/workspace", null));
        env.add(new EnvVar("AGENT_MAX_COUNT", "1", null));
        env.add(JobFactory.fromSecret("ANTHROPIC_API_KEY", own.secretName(), "ANTHROPIC_API_KEY"));
        // a caller-given token (the app controller's) wins, so the agent joins as the expected client
        env.add(r.token() != null ? JobFactory.tokenFromSessionSecret(jobName) : JobFactory.fromSecret("HYPHA_TOKEN", own.secretName(), "HYPHA_TOKEN"));
        env.addAll(session.userEnv());
        return JobPlan.builder(settings.image(), imagePullPolicy(), session)
                .env(env)
                .volume(new VolumeBuilder().withName("workspace").withNewEmptyDir().endEmptyDir().build(),
                        new VolumeMountBuilder().withName("workspace").withMountPath("/workspace").build())
                .build();
    }

    static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> out = new java.util.HashSet<>(a);
        out.addAll(b);
        return Set.copyOf(out);
    }
}
