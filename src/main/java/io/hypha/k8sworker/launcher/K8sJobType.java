package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.fabric8.kubernetes.api.model.EnvVar;
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
        out.put("image", m.image("image", null));
        out.put("command", m.stringList("command"));
        out.put("args", m.stringList("args"));
        out.put("image_pull_policy", m.oneOf("image_pull_policy", config.kubernetes().imagePullPolicy(),
                List.of("Always", "IfNotPresent", "Never")));
        out.put("restart_policy", m.oneOf("restart_policy", "Never", List.of("Never", "OnFailure")));
        out.put("backoff_limit", m.integer("backoff_limit", 0, 0, 10));
        out.put("node_selector", m.labelMap("node_selector"));
        out.put("tolerations", m.mapList("tolerations", CommonFields.TOLERATION_KEYS));
        CommonFields.read(m, config, out, CommonFields.RESERVED_ENV, null, false);
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
        return new JobPlan((String) c.get("image"), (String) c.get("image_pull_policy"),
                (List<String>) c.get("command"), (List<String>) c.get("args"), env,
                CommonFields.resources(c, Map.of(), Map.of()),
                (Map<String, String>) c.getOrDefault("node_selector", Map.of()), CommonFields.tolerations(c),
                List.of(), List.of(), (String) c.get("restart_policy"), (int) CommonFields.number(c, "backoff_limit"),
                CommonFields.number(c, "timeout"), 1000, (Boolean) c.get("wait_for_service"), (String) c.get("service_id"),
                CommonFields.number(c, "service_timeout"));
    }
}
