package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;

/**
 * {@code k8s-job}: any image and command, with the Hypha connection details in its environment. Also
 * serves {@code k8s-pod}, the name Hypha's own Kubernetes worker gives the same kind of session
 * (its manifest fields are a subset of these), so that apps and scripts written for it run here.
 */
final class K8sJobType extends ManifestJobType {

    static final String NAME = "k8s-job";
    /** Hypha's name for it. */
    static final String POD_NAME = "k8s-pod";
    private static final Pattern VOLUME_NAME = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

    K8sJobType(WorkerConfig config) {
        this(NAME, config);
    }

    K8sJobType(String name, WorkerConfig config) {
        super(name, config);
    }

    @Override
    protected void readFields(ManifestReader m, Map<String, Object> out) {
        String image = m.image("image", null);
        policy.checkImage("image", image);
        out.put("image", image);
        out.put("command", m.stringList("command"));
        out.put("args", m.stringList("args"));
        String workingDir = m.string("working_dir", null);
        if (workingDir != null && !workingDir.startsWith("/")) {
            throw WorkerException.invalid("manifest.working_dir must be an absolute path, got '" + WorkerException.shown(workingDir) + "'");
        }
        out.put("working_dir", workingDir);
        out.put("volumes", volumes(m));
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
        CommonFields.read(m, config, policy, out, CommonFields.RESERVED_ENV, null, Map.of(), Map.of());
        @SuppressWarnings("unchecked")
        Map<String, String> env = (Map<String, String>) out.get("env");
        secretEnv.keySet().stream().filter(env::containsKey).findFirst().ifPresent(name -> {
            throw WorkerException.invalid("manifest.secret_env." + name + " is also set in manifest.env");
        });
    }

    /** Hypha's {@code volumes}: existing PersistentVolumeClaims, {name, mount_path, pvc_name}, each allowed by the policy. */
    private List<Map<String, Object>> volumes(ManifestReader m) {
        List<Map<String, Object>> volumes = m.mapList("volumes", Set.of("name", "mount_path", "pvc_name", "read_only"));
        Set<String> names = new HashSet<>();
        for (int i = 0; i < volumes.size(); i++) {
            Map<String, Object> v = volumes.get(i);
            String path = "volumes[" + i + "]";
            if (!(v.get("name") instanceof String name) || name.length() > 63 || !VOLUME_NAME.matcher(name).matches()) {
                throw WorkerException.invalid("manifest." + path + ".name must be a lower-case DNS label");
            }
            if (!names.add(name)) {
                throw WorkerException.invalid("manifest." + path + ".name: '" + name + "' is used twice");
            }
            if (!(v.get("mount_path") instanceof String mount) || !mount.startsWith("/") || mount.length() > 1024) {
                throw WorkerException.invalid("manifest." + path + ".mount_path must be an absolute path");
            }
            if (!(v.get("pvc_name") instanceof String claim) || claim.length() > 253
                    || !Pattern.compile("[a-z0-9]([-a-z0-9.]*[a-z0-9])?").matcher(claim).matches()) {
                throw WorkerException.invalid("manifest." + path + ".pvc_name must be the name of a PersistentVolumeClaim");
            }
            if (v.get("read_only") != null && !(v.get("read_only") instanceof Boolean)) {
                throw WorkerException.invalid("manifest." + path + ".read_only must be true or false");
            }
            policy.checkVolumeClaim(path + ".pvc_name", claim);
        }
        return volumes;
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
        List<Volume> volumes = new ArrayList<>();
        List<VolumeMount> mounts = new ArrayList<>();
        for (Map<String, Object> v : (List<Map<String, Object>>) c.getOrDefault("volumes", List.of())) {
            String name = (String) v.get("name");
            volumes.add(new VolumeBuilder().withName(name).withNewPersistentVolumeClaim().withClaimName((String) v.get("pvc_name"))
                    .endPersistentVolumeClaim().build());
            mounts.add(new VolumeMountBuilder().withName(name).withMountPath((String) v.get("mount_path"))
                    .withReadOnly(Boolean.TRUE.equals(v.get("read_only")) ? true : null).build());
        }
        return new JobPlan((String) c.get("image"), (String) c.get("image_pull_policy"),
                (List<String>) c.get("command"), (List<String>) c.get("args"), env,
                CommonFields.resources(c),
                (Map<String, String>) c.getOrDefault("node_selector", Map.of()), CommonFields.tolerations(c),
                (String) c.get("service_account"),
                volumes, mounts, (String) c.get("restart_policy"), (int) CommonFields.number(c, "backoff_limit"),
                CommonFields.number(c, "timeout"), 1000, (Boolean) c.get("wait_for_service"), (String) c.get("service_id"),
                CommonFields.number(c, "service_timeout"), (String) c.get("working_dir"));
    }
}
