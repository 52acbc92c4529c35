package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;

/** {@code k8s-job}: any image and command, with the Hypha connection details in its environment. */
final class K8sJobType extends ManifestJobType {

    static final String NAME = "k8s-job";

    K8sJobType(WorkerConfig config) {
        super(NAME, config);
    }

    @Override
    protected void readFields(ManifestReader m, Map<String, Object> out) {
        String image = m.image("image", null);
        policy.checkImage("image", image);
        out.put("image", image);
        out.put("command", m.stringList("command"));
        out.put("args", m.stringList("args"));
        out.put("image_pull_policy", m.oneOf("image_pull_policy", config.kubernetes().imagePullPolicy(),
                List.of("Always", "IfNotPresent", "Never")));
        out.put("restart_policy", m.oneOf("restart_policy", "Never", List.of("Never", "OnFailure")));
        out.put("backoff_limit", m.integer("backoff_limit", 0, 0, 10));
        Map<String, String> nodeSelector = m.labelMap("node_selector");
        policy.checkNodeSelector(nodeSelector);
        out.put("node_selector", nodeSelector);
        List<Map<String, Object>> tolerations = m.mapList("tolerations", CommonFields.TOLERATION_KEYS);
        policy.checkTolerations(tolerations);
        out.put("tolerations", tolerations);
        String serviceAccount = m.dnsName("service_account", null);
        policy.checkServiceAccount("service_account", serviceAccount);
        out.put("service_account", serviceAccount);
        Map<String, Map<String, String>> secretEnv = m.secretRefs("secret_env", CommonFields.RESERVED_ENV);
        secretEnv.forEach((name, ref) -> policy.checkSecret("secret_env." + name + ".secret", ref.get("secret"), null));
        out.put("secret_env", secretEnv);
        CommonFields.read(m, config, policy, out, CommonFields.RESERVED_ENV, null, false, Map.of(), Map.of());
        @SuppressWarnings("unchecked")
        Map<String, String> env = (Map<String, String>) out.get("env");
        secretEnv.keySet().stream().filter(env::containsKey).findFirst().ifPresent(name -> {
            throw WorkerException.invalid("manifest.secret_env." + name + " is also set in manifest.env");
        });
    }

    @Override
    @SuppressWarnings("unchecked")
    public JobPlan plan(Map<String, Object> c, LaunchRequest r) {
        String jobName = SessionMeta.jobName(r.sessionId(), r.clientId());
        List<EnvVar> env = new ArrayList<>(JobFactory.hyphaEnv(r));
        if (r.token() != null) {
            env.add(JobFactory.tokenFromSessionSecret(jobName));
        }
        env.addAll(CommonFields.userEnv(c));
        ((Map<String, Map<String, String>>) c.getOrDefault("secret_env", Map.of()))
                .forEach((name, ref) -> env.add(JobFactory.fromSecret(name, ref.get("secret"), ref.get("key"))));
        return new JobPlan((String) c.get("image"), (String) c.get("image_pull_policy"),
                (List<String>) c.get("command"), (List<String>) c.get("args"), env,
                CommonFields.resources(c),
                (Map<String, String>) c.getOrDefault("node_selector", Map.of()), CommonFields.tolerations(c),
                (String) c.get("service_account"),
                List.of(), List.of(), (String) c.get("restart_policy"), (int) CommonFields.number(c, "backoff_limit"),
                CommonFields.number(c, "timeout"), 1000, (Boolean) c.get("wait_for_service"), (String) c.get("service_id"),
                CommonFields.number(c, "service_timeout"));
    }
}
