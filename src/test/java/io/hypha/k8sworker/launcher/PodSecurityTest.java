package io.hypha.k8sworker.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.SecurityContextBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.k8s.KubeCluster;

/**
 * Every Job the worker builds, of every job type and with the manifest fields that shape the pod,
 * gets its pod admitted in a namespace that enforces the {@code restricted} Pod Security Standard.
 * Pod Security admission checks pods, not Jobs, so the proof is the Job controller creating the pod;
 * a Job that breaks the standard is shown to be refused in the same namespace, so the check is live.
 */
@Tag("k8s")
class PodSecurityTest {

    @RegisterExtension
    static final KubeCluster cluster = new KubeCluster();

    private static final Map<String, String> RESTRICTED = Map.of(
            "pod-security.kubernetes.io/enforce", "restricted",
            "pod-security.kubernetes.io/enforce-version", "latest",
            "pod-security.kubernetes.io/warn", "restricted");
    private static final Duration WAIT = Duration.ofSeconds(60);

    /** The broadest pod each job type can be asked for, within a policy that allows it. */
    private static final Map<String, Map<String, Object>> MANIFESTS = Map.of(
            "k8s-job", Map.of("image", "python:3.11", "command", List.of("python", "-c", "print(1)"),
                    "env", Map.of("A", "b"), "secret_env", Map.of("KEY", Map.of("secret", "app-keys", "key", "k")),
                    "service_account", "runner", "node_selector", Map.of("kubernetes.io/os", "linux"),
                    "resources", Map.of("requests", Map.of("cpu", "250m", "memory", "128Mi"))),
            "k8s-pod", Map.of("image", "python:3.11", "command", List.of("sleep", "60"), "working_dir", "/data",
                    "volumes", List.of(Map.of("name", "data", "mount_path", "/data", "pvc_name", "app-data"))),
            "claude-agent", Map.of(),
            "conda-worker", Map.of());

    private final WorkerConfig config = WorkerConfig.load(Path.of("conf/config.yaml"), Map.of(
            "HYPHA_K8S_WORKER_POLICY_ALLOWED_SERVICE_ACCOUNTS", "runner",
            "HYPHA_K8S_WORKER_POLICY_ALLOWED_SECRET_NAMES", "app-keys",
            "HYPHA_K8S_WORKER_POLICY_ALLOWED_VOLUME_CLAIMS", "app-data"));

    @Test
    void everyJobTypesPodIsAdmittedUnderTheRestrictedStandard() {
        String ns = cluster.createNamespace("pss", RESTRICTED);
        JobFactory factory = new JobFactory(config);
        List<JobType> types = JobTypes.enabled(config);
        assertThat(types).extracting(JobType::name).containsExactlyInAnyOrderElementsOf(MANIFESTS.keySet());

        for (JobType type : types) {
            String clientId = "pss-" + type.name();
            LaunchRequest request = new LaunchRequest("ws-pss/" + clientId, "pss-app", "ws-pss", clientId,
                    "http://127.0.0.1:9", "a-token", "ws-pss/caller", null, MANIFESTS.get(type.name()));
            Job job = factory.job(request, type.name(), type.plan(type.compile(request.manifest()), request),
                    SessionMeta.jobName(request.sessionId(), clientId));
            cluster.client().batch().v1().jobs().inNamespace(ns).resource(job).create();
        }

        for (JobType type : types) {
            Pod pod = podOf(ns, "pss-" + type.name());
            assertThat(pod.getMetadata().getLabels()).as("pod of %s", type.name())
                    .containsEntry(SessionMeta.JOB_TYPE, type.name());
        }
        assertThat(refusals(ns)).as("pods refused by Pod Security").isEmpty();
    }

    @Test
    void aPodThatBreaksTheStandardIsRefusedThere() {
        String ns = cluster.createNamespace("pss", RESTRICTED);
        Job privileged = new JobBuilder().withNewMetadata().withName("privileged").endMetadata()
                .withNewSpec().withBackoffLimit(0).withNewTemplate().withNewSpec().withRestartPolicy("Never")
                .addNewContainer().withName("main").withImage("busybox:1")
                .withSecurityContext(new SecurityContextBuilder().withPrivileged(true).build()).endContainer()
                .endSpec().endTemplate().endSpec().build();
        cluster.client().batch().v1().jobs().inNamespace(ns).resource(privileged).create();

        String message = KubeCluster.await("the Job controller's FailedCreate event", WAIT,
                () -> refusals(ns).stream().findFirst().orElse(null));
        assertThat(message).contains("violates PodSecurity \"restricted:latest\"").contains("privileged");
        assertThat(cluster.client().pods().inNamespace(ns).list().getItems()).isEmpty();
    }

    private Pod podOf(String ns, String clientId) {
        return KubeCluster.await("pod of session " + clientId, WAIT, () -> cluster.client().pods().inNamespace(ns)
                .withLabel(SessionMeta.SESSION_KEY, SessionMeta.sessionKey("ws-pss/" + clientId)).list().getItems()
                .stream().findFirst().orElse(null));
    }

    private List<String> refusals(String ns) {
        return cluster.client().v1().events().inNamespace(ns).list().getItems().stream()
                .filter(e -> "FailedCreate".equals(e.getReason()))
                .map(Event::getMessage)
                .filter(m -> m != null && m.contains("PodSecurity"))
                .toList();
    }
}
