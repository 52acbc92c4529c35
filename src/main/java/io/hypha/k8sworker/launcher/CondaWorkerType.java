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
final class CondaWorkerType extends ManifestJobType<CondaWorkerType.Fields> {

    static final String NAME = "conda-worker";
    /** The user of Hypha's conda worker image. */
    private static final long IMAGE_USER = 8877;
    private static final Set<String> RESERVED = ClaudeAgentType.union(CommonFields.RESERVED_ENV,
            Set.of("HYPHA_SERVICE_ID", "HYPHA_VISIBILITY"));

    /** The visibility it registers with, where its Hypha token comes from (unless the caller gives one), and its log level. */
    record Fields(String visibility, String tokenSecret, String tokenKey, boolean verbose) implements CompiledManifest.TypeFields {
        @Override
        public void putInto(Map<String, Object> manifest) {
            manifest.put("visibility", visibility);
            manifest.put("token_secret", tokenSecret);
            manifest.put("token_key", tokenKey);
            manifest.put("verbose", verbose);
        }
    }

    CondaWorkerType(WorkerConfig config) {
        super(NAME, Fields.class, config);
    }

    @Override
    protected Fields readOwn(ManifestReader m) {
        String visibility = agentVisibility(m);
        String typeSecret = settings.tokenSecret();
        String tokenSecret = m.dnsName("token_secret", typeSecret);
        policy.checkSecret("token_secret", tokenSecret, typeSecret);
        String typeKey = settings.tokenKey();
        String tokenKey = m.secretKey("token_key", typeKey);
        if (tokenSecret.equals(typeSecret) && !tokenKey.equals(typeKey)) {
            // the type's Secret may hold other credentials than the one it is configured to hand out
            throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.token_key: only '" + typeKey + "' may be read from "
                    + typeSecret + "; another key needs a token_secret from policy.allowedSecretNames");
        }
        return new Fields(visibility, tokenSecret, tokenKey, m.bool("verbose", false));
    }

    @Override
    protected CompiledManifest.SessionFields readSession(ManifestReader m, Fields own) {
        CompiledManifest.SessionFields session = CommonFields.read(m, config, policy, RESERVED, "conda-worker", Map.of(), Map.of());
        CommonFields.checkOperatorImageEnv(session.env(), NAME, settings.allowedEnv());
        return session;
    }

    @Override
    protected JobPlan plan(Fields own, CompiledManifest.SessionFields session, LaunchRequest r) {
        String jobName = SessionMeta.jobName(r.sessionId(), r.clientId());
        String serviceId = session.serviceId();
        List<EnvVar> env = new ArrayList<>(JobFactory.hyphaEnv(r));
        env.add(new EnvVar("HYPHA_SERVICE_ID", serviceId, null));
        env.add(new EnvVar("HYPHA_VISIBILITY", own.visibility(), null));
        // the conda worker reads HYPHA_TOKEN itself: a token on the command line would show in the Job and in ps
        env.add(r.token() != null ? JobFactory.tokenFromSessionSecret(jobName)
                : JobFactory.fromSecret("HYPHA_TOKEN", own.tokenSecret(), own.tokenKey()));
        env.addAll(session.userEnv());
        List<String> args = new ArrayList<>(List.of("-m", "hypha.workers.conda", "--server-url", "$(HYPHA_SERVER_URL)",
                "--workspace", "$(HYPHA_WORKSPACE)", "--client-id", "$(HYPHA_CLIENT_ID)",
                "--service-id", serviceId, "--visibility", own.visibility()));
        if (own.verbose()) {
            args.add("--verbose");
        }
        return JobPlan.builder(settings.image(), imagePullPolicy(), session)
                .command(List.of("python")).args(args).env(env).runAsUser(IMAGE_USER)
                .build();
    }
}
