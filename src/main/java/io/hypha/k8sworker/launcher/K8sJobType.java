package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.k8sworker.ports.WebPort;
import io.hypha.k8sworker.ports.WebPorts;

/**
 * {@code k8s-job}: any image and command, with the Hypha connection details in its environment. Also
 * serves {@code k8s-pod}, the name Hypha's own Kubernetes worker gives the same kind of session
 * (its manifest fields are a subset of these), so that apps and scripts written for it run here.
 */
final class K8sJobType extends ManifestJobType<K8sJobType.Fields> {

    static final String NAME = "k8s-job";
    /** Hypha's name for it. */
    static final String POD_NAME = "k8s-pod";
    private static final Pattern VOLUME_NAME = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
    private static final Pattern CLAIM_NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]*[a-z0-9])?");

    /** What the caller's pod runs and where: the caller chooses almost all of it, within the policy. */
    record Fields(String image, List<String> command, List<String> args, String workingDir, List<ClaimVolume> volumes,
                  String imagePullPolicy, String restartPolicy, long backoffLimit, Map<String, String> nodeSelector,
                  List<Map<String, Object>> tolerations, String serviceAccount, Map<String, SecretRef> secretEnv, List<WebPort> ports)
            implements CompiledManifest.TypeFields {
        @Override
        public void putInto(Map<String, Object> manifest) {
            manifest.put("image", image);
            manifest.put("command", command);
            manifest.put("args", args);
            manifest.put("working_dir", workingDir);
            manifest.put("volumes", volumes.stream().map(ClaimVolume::toMap).toList());
            manifest.put("image_pull_policy", imagePullPolicy);
            manifest.put("restart_policy", restartPolicy);
            manifest.put("backoff_limit", backoffLimit);
            manifest.put("node_selector", nodeSelector);
            manifest.put("tolerations", tolerations);
            manifest.put("service_account", serviceAccount);
            Map<String, Object> secrets = new LinkedHashMap<>();
            secretEnv.forEach((name, ref) -> secrets.put(name, ref.toMap()));
            manifest.put("secret_env", secrets);
            manifest.put("ports", WebPorts.plain(ports));
        }
    }

    /** Hypha's volume: an existing PersistentVolumeClaim mounted at a path; readOnly null if the caller left it out. */
    record ClaimVolume(String name, String mountPath, String pvcName, Boolean readOnly) {
        Map<String, Object> toMap() {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("name", name);
            out.put("mount_path", mountPath);
            out.put("pvc_name", pvcName);
            if (readOnly != null) {
                out.put("read_only", readOnly);
            }
            return out;
        }
    }

    /** A variable taken from a key of a Secret. */
    record SecretRef(String secret, String key) {
        Map<String, String> toMap() {
            return Map.of("secret", secret, "key", key);
        }
    }

    K8sJobType(WorkerConfig config) {
        this(NAME, config);
    }

    K8sJobType(String name, WorkerConfig config) {
        super(name, Fields.class, config);
    }

    @Override
    protected Fields readOwn(ManifestReader m) {
        String image = m.image("image", null);
        policy.checkImage("image", image);
        List<String> command = m.stringList("command");
        List<String> args = m.stringList("args");
        String workingDir = m.string("working_dir", null);
        if (workingDir != null && !workingDir.startsWith("/")) {
            throw WorkerException.invalid("manifest.working_dir must be an absolute path, got '" + WorkerException.shown(workingDir) + "'");
        }
        List<ClaimVolume> volumes = volumes(m);
        String pullPolicy = m.oneOf("image_pull_policy", config.kubernetes().imagePullPolicy(), List.of("Always", "IfNotPresent", "Never"));
        String restartPolicy = m.oneOf("restart_policy", "Never", List.of("Never", "OnFailure"));
        long backoffLimit = m.integer("backoff_limit", 0, 0, 10);
        Map<String, String> nodeSelector = m.labelMap("node_selector");
        policy.checkNodeSelector(nodeSelector);
        List<Map<String, Object>> tolerations = m.mapList("tolerations", CommonFields.TOLERATION_KEYS);
        policy.checkTolerations(tolerations);
        String serviceAccount = m.dnsName("service_account", null);
        policy.checkServiceAccount("service_account", serviceAccount);
        Map<String, SecretRef> secretEnv = new LinkedHashMap<>();
        m.secretRefs("secret_env", CommonFields.RESERVED_ENV).forEach((name, ref) -> {
            policy.checkSecret("secret_env." + name + ".secret", ref.get("secret"), null);
            secretEnv.put(name, new SecretRef(ref.get("secret"), ref.get("key")));
        });
        List<WebPort> ports = WebPorts.read(m.mapList("ports", WebPorts.KEYS), config.ports());
        return new Fields(image, command, args, workingDir, volumes, pullPolicy, restartPolicy, backoffLimit, nodeSelector, tolerations,
                serviceAccount, secretEnv, ports);
    }

    @Override
    protected CompiledManifest.SessionFields readSession(ManifestReader m, Fields own) {
        CompiledManifest.SessionFields session = CommonFields.read(m, config, policy, CommonFields.RESERVED_ENV, null, Map.of(), Map.of());
        own.secretEnv().keySet().stream().filter(session.env()::containsKey).findFirst().ifPresent(name -> {
            throw WorkerException.invalid("manifest.secret_env." + name + " is also set in manifest.env");
        });
        return session;
    }

    /** Hypha's {@code volumes}: existing PersistentVolumeClaims, {name, mount_path, pvc_name}, each allowed by the policy. */
    private List<ClaimVolume> volumes(ManifestReader m) {
        List<Map<String, Object>> volumes = m.mapList("volumes", Set.of("name", "mount_path", "pvc_name", "read_only"));
        Set<String> names = new HashSet<>();
        List<ClaimVolume> out = new ArrayList<>();
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
            if (!(v.get("pvc_name") instanceof String claim) || claim.length() > 253 || !CLAIM_NAME.matcher(claim).matches()) {
                throw WorkerException.invalid("manifest." + path + ".pvc_name must be the name of a PersistentVolumeClaim");
            }
            if (v.get("read_only") != null && !(v.get("read_only") instanceof Boolean)) {
                throw WorkerException.invalid("manifest." + path + ".read_only must be true or false");
            }
            policy.checkVolumeClaim(path + ".pvc_name", claim);
            out.add(new ClaimVolume(name, mount, claim, (Boolean) v.get("read_only")));
        }
        return out;
    }

    @Override
    protected JobPlan plan(Fields own, CompiledManifest.SessionFields session, LaunchRequest r) {
        String jobName = SessionMeta.jobName(r.sessionId(), r.clientId());
        List<EnvVar> env = new ArrayList<>(JobFactory.hyphaEnv(r));
        if (r.token() != null) {
            env.add(JobFactory.tokenFromSessionSecret(jobName));
        }
        env.addAll(session.userEnv());
        own.secretEnv().forEach((name, ref) -> env.add(JobFactory.fromSecret(name, ref.secret(), ref.key())));
        JobPlan.Builder plan = JobPlan.builder(own.image(), own.imagePullPolicy(), session)
                .command(own.command()).args(own.args()).workingDir(own.workingDir()).env(env)
                .nodeSelector(own.nodeSelector()).tolerations(own.tolerations().stream().map(JobFactory::toleration).toList())
                .serviceAccount(own.serviceAccount()).restartPolicy(own.restartPolicy()).backoffLimit((int) own.backoffLimit());
        for (ClaimVolume v : own.volumes()) {
            plan.volume(new VolumeBuilder().withName(v.name()).withNewPersistentVolumeClaim().withClaimName(v.pvcName())
                            .endPersistentVolumeClaim().build(),
                    new VolumeMountBuilder().withName(v.name()).withMountPath(v.mountPath())
                            .withReadOnly(Boolean.TRUE.equals(v.readOnly()) ? true : null).build());
        }
        return plan.build();
    }
}
