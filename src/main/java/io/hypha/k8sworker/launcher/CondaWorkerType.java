package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;

/** {@code conda-worker}: Hypha's conda worker, registering itself as a service in the session's workspace. */
final class CondaWorkerType extends ManifestJobType {

    static final String NAME = "conda-worker";
    private static final Set<String> RESERVED = ClaudeAgentType.union(CommonFields.RESERVED_ENV,
            Set.of("HYPHA_SERVICE_ID", "HYPHA_VISIBILITY"));

    CondaWorkerType(WorkerConfig config) {
        super(NAME, config);
    }

    @Override
    protected void readFields(ManifestReader m, Map<String, Object> out) {
        out.put("visibility", agentVisibility(m));
        String typeSecret = settings.getString("tokenSecret", "hypha-secrets");
        String tokenSecret = m.dnsName("token_secret", typeSecret);
        policy.checkSecret("token_secret", tokenSecret, typeSecret);
        out.put("token_secret", tokenSecret);
        String typeKey = settings.getString("tokenKey", "HYPHA_AGENTS_TOKEN");
        String tokenKey = m.secretKey("token_key", typeKey);
        if (tokenSecret.equals(typeSecret) && !tokenKey.equals(typeKey)) {
            // the type's Secret may hold other credentials than the one it is configured to hand out
            throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.token_key: only '" + typeKey + "' may be read from "
                    + typeSecret + "; another key needs a token_secret from policy.allowedSecretNames");
        }
        out.put("token_key", tokenKey);
        out.put("verbose", m.bool("verbose", false));
        CommonFields.read(m, config, policy, out, RESERVED, "conda-worker", Map.of(), Map.of());
        CommonFields.checkOperatorImageEnv(out, NAME, settingsList("allowedEnv"));
    }

    @Override
    public JobPlan plan(Map<String, Object> c, LaunchRequest r) {
        String jobName = SessionMeta.jobName(r.sessionId(), r.clientId());
        String serviceId = (String) c.get("service_id");
        List<EnvVar> env = new ArrayList<>(JobFactory.hyphaEnv(r));
        env.add(new EnvVar("HYPHA_SERVICE_ID", serviceId, null));
        env.add(new EnvVar("HYPHA_VISIBILITY", (String) c.get("visibility"), null));
        // the conda worker reads HYPHA_TOKEN itself: a token on the command line would show in the Job and in ps
        env.add(r.token() != null ? JobFactory.tokenFromSessionSecret(jobName)
                : JobFactory.fromSecret("HYPHA_TOKEN", (String) c.get("token_secret"), (String) c.get("token_key")));
        env.addAll(CommonFields.userEnv(c));
        List<String> args = new ArrayList<>(List.of("-m", "hypha.workers.conda", "--server-url", "$(HYPHA_SERVER_URL)",
                "--workspace", "$(HYPHA_WORKSPACE)", "--client-id", "$(HYPHA_CLIENT_ID)",
                "--service-id", serviceId, "--visibility", (String) c.get("visibility")));
        if (Boolean.TRUE.equals(c.get("verbose"))) {
            args.add("--verbose");
        }
        return new JobPlan(settings.getString("image", "oeway/hypha-conda-worker:0.1.0"),
                settings.getString("imagePullPolicy", config.kubernetes().imagePullPolicy()), List.of("python"), args, env,
                CommonFields.resources(c), Map.of(), List.of(), null, List.of(), List.of(),
                "Never", 0, CommonFields.number(c, "timeout"), 8877, (Boolean) c.get("wait_for_service"), serviceId,
                CommonFields.number(c, "service_timeout"));
    }
}
