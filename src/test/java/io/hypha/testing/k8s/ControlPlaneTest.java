package io.hypha.testing.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.DeletionPropagation;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.JobCondition;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;

/**
 * The local control plane behaves like a real cluster for what the worker relies on:
 * Job lifecycle, outcomes chosen by image tag (kwok stages), pod logs, garbage collection,
 * RBAC with ServiceAccount tokens, dry-run and Pod Security admission.
 */
@Tag("k8s")
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ControlPlaneTest {

    @RegisterExtension
    static final KubeCluster cluster = new KubeCluster();

    private static final Duration WAIT = Duration.ofSeconds(20);

    private KubernetesClient client() {
        return cluster.client();
    }

    private static Job job(String name, String image) {
        return new JobBuilder()
                .withNewMetadata().withName(name).endMetadata()
                .withNewSpec()
                .withBackoffLimit(0)
                .withNewTemplate()
                .withNewSpec()
                .withRestartPolicy("Never")
                .addNewContainer().withName("main").withImage(image).endContainer()
                .endSpec()
                .endTemplate()
                .endSpec()
                .build();
    }

    private Job createJob(Job job) {
        return client().batch().v1().jobs().inNamespace(cluster.namespace()).resource(job).create();
    }

    private List<Pod> jobPods(String jobName) {
        return client().pods().inNamespace(cluster.namespace()).withLabel("job-name", jobName).list().getItems();
    }

    private Pod awaitJobPod(String jobName, String what, Predicate<Pod> condition) {
        return KubeCluster.await("pod of job " + jobName + " " + what, WAIT,
                () -> jobPods(jobName).stream().filter(condition).findFirst().orElse(null));
    }

    private JobCondition awaitJobCondition(String jobName, String type) {
        return KubeCluster.await("job " + jobName + " condition " + type, WAIT, () -> {
            Job j = client().batch().v1().jobs().inNamespace(cluster.namespace()).withName(jobName).get();
            if (j == null || j.getStatus() == null || j.getStatus().getConditions() == null) {
                return null;
            }
            return j.getStatus().getConditions().stream()
                    .filter(c -> type.equals(c.getType()) && "True".equals(c.getStatus())).findFirst().orElse(null);
        });
    }

    private Pod awaitPod(String name, String what, Predicate<Pod> condition) {
        return KubeCluster.await("pod " + name + " " + what, WAIT, () -> {
            Pod p = client().pods().inNamespace(cluster.namespace()).withName(name).get();
            return p != null && condition.test(p) ? p : null;
        });
    }

    private static ContainerStatus container(Pod pod) {
        List<ContainerStatus> statuses = pod.getStatus().getContainerStatuses();
        return statuses == null || statuses.isEmpty() ? null : statuses.get(0);
    }

    private static boolean phase(Pod pod, String phase) {
        return pod.getStatus() != null && phase.equals(pod.getStatus().getPhase());
    }

    private static Pod barePod(String name, String image, String restartPolicy) {
        return new PodBuilder()
                .withNewMetadata().withName(name).endMetadata()
                .withNewSpec()
                .withRestartPolicy(restartPolicy)
                .addNewContainer().withName("main").withImage(image).endContainer()
                .endSpec()
                .build();
    }

    @Test
    void jobPodRunsThenSucceedsAndJobCompletes() throws Exception {
        Set<String> phases = ConcurrentHashMap.newKeySet();
        try (Watch ignored = client().pods().inNamespace(cluster.namespace()).withLabel("job-name", "ok")
                .watch(new Watcher<Pod>() {
                    @Override
                    public void eventReceived(Action action, Pod pod) {
                        if (pod.getStatus() != null && pod.getStatus().getPhase() != null) {
                            phases.add(pod.getStatus().getPhase());
                        }
                    }

                    @Override
                    public void onClose(WatcherException cause) {
                    }
                })) {
            createJob(job("ok", "registry.example/worker:1.0"));
            Pod pod = awaitJobPod("ok", "Succeeded", p -> phase(p, "Succeeded"));
            assertThat(pod.getSpec().getNodeName()).isEqualTo("kwok-node-0");
            assertThat(container(pod).getState().getTerminated().getExitCode()).isZero();
            awaitJobCondition("ok", "Complete");
            KubeCluster.await("Running seen by the watch", Duration.ofSeconds(5),
                    () -> phases.containsAll(Set.of("Pending", "Running", "Succeeded")) ? true : null);
        }
        Job done = client().batch().v1().jobs().inNamespace(cluster.namespace()).withName("ok").get();
        assertThat(done.getStatus().getSucceeded()).isEqualTo(1);
    }

    @Test
    void failTagFailsTheJobWithExitCode() {
        Job job = job("bad", "registry.example/worker:fail");
        job.getSpec().getTemplate().setMetadata(new ObjectMetaBuilder()
                .withAnnotations(Map.of("test.hypha.io/exit-code", "7")).build());
        createJob(job);
        Pod pod = awaitJobPod("bad", "Failed", p -> phase(p, "Failed"));
        var terminated = container(pod).getState().getTerminated();
        assertThat(terminated.getExitCode()).isEqualTo(7);
        assertThat(terminated.getReason()).isEqualTo("Error");
        JobCondition failed = awaitJobCondition("bad", "Failed");
        assertThat(failed.getReason()).isEqualTo("BackoffLimitExceeded");
    }

    @Test
    void failTagDefaultExitCodeIsThree() {
        createJob(job("bad3", "worker:fail"));
        Pod pod = awaitJobPod("bad3", "Failed", p -> phase(p, "Failed"));
        assertThat(container(pod).getState().getTerminated().getExitCode()).isEqualTo(3);
    }

    @Test
    void pullErrorTagReportsErrImagePull() {
        client().pods().inNamespace(cluster.namespace())
                .resource(barePod("pull", "registry.example/missing:pullerror", "Never")).create();
        Pod pod = awaitPod("pull", "ErrImagePull", p -> container(p) != null
                && container(p).getState().getWaiting() != null
                && "ErrImagePull".equals(container(p).getState().getWaiting().getReason()));
        assertThat(pod.getStatus().getPhase()).isEqualTo("Pending");
        assertThat(container(pod).getState().getWaiting().getMessage()).contains("registry.example/missing:pullerror");
    }

    @Test
    void crashTagReportsCrashLoopBackOff() {
        client().pods().inNamespace(cluster.namespace())
                .resource(barePod("crash", "registry.example/worker:crash", "Always")).create();
        Pod pod = awaitPod("crash", "CrashLoopBackOff", p -> container(p) != null
                && container(p).getState().getWaiting() != null
                && "CrashLoopBackOff".equals(container(p).getState().getWaiting().getReason()));
        ContainerStatus status = container(pod);
        assertThat(status.getRestartCount()).isPositive();
        assertThat(status.getLastState().getTerminated().getExitCode()).isEqualTo(3);
        assertThat(pod.getStatus().getPhase()).isEqualTo("Running");
    }

    @Test
    void podLogsComeThroughTheApiServer() {
        createJob(job("logs", "worker:latest"));
        Pod pod = awaitJobPod("logs", "Running or done", p -> phase(p, "Running") || phase(p, "Succeeded"));
        String log = client().pods().inNamespace(cluster.namespace()).withName(pod.getMetadata().getName()).getLog();
        assertThat(log).contains("hypha test pod: starting", "hypha test pod: done");
        String tail = client().pods().inNamespace(cluster.namespace()).withName(pod.getMetadata().getName())
                .tailingLines(1).getLog();
        assertThat(tail.strip()).isEqualTo("hypha test pod: done");

        // Per-pod log text (a kwok Logs object pointing at a CRI-format file).
        cluster.setPodLog(pod.getMetadata().getName(), "custom line 1", "custom line 2");
        String custom = KubeCluster.await("per-pod log", Duration.ofSeconds(10), () -> {
            String text = client().pods().inNamespace(cluster.namespace()).withName(pod.getMetadata().getName())
                    .getLog();
            return text.contains("custom line") ? text : null;
        });
        assertThat(custom).isEqualTo("custom line 1\ncustom line 2\n");
    }

    @Test
    void deletingAJobInBackgroundRemovesItsPods() {
        Job job = job("gone", "worker:latest");
        // Keeps the pod Running long enough to be deleted while running.
        job.getSpec().getTemplate().setMetadata(new ObjectMetaBuilder()
                .withAnnotations(Map.of("pod-complete.stage.kwok.x-k8s.io/delay", "5m")).build());
        createJob(job);
        awaitJobPod("gone", "Running", p -> phase(p, "Running"));
        client().batch().v1().jobs().inNamespace(cluster.namespace()).withName("gone")
                .withPropagationPolicy(DeletionPropagation.BACKGROUND).delete();
        KubeCluster.await("pods of deleted job gone", WAIT, () -> jobPods("gone").isEmpty() ? true : null);
        assertThat(client().batch().v1().jobs().inNamespace(cluster.namespace()).withName("gone").get()).isNull();
    }

    @Test
    void ttlAfterFinishedRemovesTheJob() {
        Job job = job("ttl", "worker:latest");
        job.getSpec().setTtlSecondsAfterFinished(1);
        // a watch sees the Complete condition even when the TTL removes the Job before a poll would
        java.util.concurrent.atomic.AtomicBoolean completed = new java.util.concurrent.atomic.AtomicBoolean();
        try (Watch watch = client().batch().v1().jobs().inNamespace(cluster.namespace()).withName("ttl").watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, Job j) {
                if (j.getStatus() != null && j.getStatus().getConditions() != null && j.getStatus().getConditions().stream()
                        .anyMatch(c -> "Complete".equals(c.getType()) && "True".equals(c.getStatus()))) {
                    completed.set(true);
                }
            }

            @Override
            public void onClose(WatcherException cause) {
            }
        })) {
            createJob(job);
            KubeCluster.await("job removed by TTL", WAIT, () -> client().batch().v1().jobs()
                    .inNamespace(cluster.namespace()).withName("ttl").get() == null ? true : null);
            assertThat(completed).as("the Job completed before it was removed").isTrue();
        }
    }

    @Test
    void rbacLimitsAServiceAccountToken() {
        String ns = cluster.namespace();
        client().serviceAccounts().inNamespace(ns)
                .resource(new ServiceAccountBuilder().withNewMetadata().withName("limited").endMetadata().build())
                .create();
        client().rbac().roles().inNamespace(ns).resource(new RoleBuilder()
                .withNewMetadata().withName("jobs-only").endMetadata()
                .withRules(new PolicyRuleBuilder().withApiGroups("batch").withResources("jobs")
                        .withVerbs("create", "get", "list").build())
                .build()).create();
        client().rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder()
                .withNewMetadata().withName("limited-jobs").endMetadata()
                .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("Role").withName("jobs-only")
                .endRoleRef()
                .addNewSubject().withKind("ServiceAccount").withName("limited").withNamespace(ns).endSubject()
                .build()).create();

        TokenRequest request = client().serviceAccounts().inNamespace(ns).withName("limited")
                .tokenRequest(new TokenRequestBuilder().withNewSpec().withExpirationSeconds(3600L).endSpec().build());
        String token = request.getStatus().getToken();
        assertThat(token).isNotBlank();

        try (KubernetesClient limited = KubeCluster.clientWithToken(token, ns)) {
            // The RBAC authorizer learns about new bindings through a watch: retry briefly.
            Job created = KubeCluster.await("job created with the ServiceAccount token", Duration.ofSeconds(10),
                    () -> limited.batch().v1().jobs().inNamespace(ns).resource(job("by-sa", "worker:latest"))
                            .create());
            assertThat(created.getMetadata().getUid()).isNotBlank();
            assertThat(limited.batch().v1().jobs().inNamespace(ns).list().getItems()).hasSize(1);

            Deployment deployment = new DeploymentBuilder()
                    .withNewMetadata().withName("not-allowed").endMetadata()
                    .withNewSpec()
                    .withNewSelector().addToMatchLabels("app", "x").endSelector()
                    .withNewTemplate()
                    .withNewMetadata().addToLabels("app", "x").endMetadata()
                    .withNewSpec().addNewContainer().withName("main").withImage("worker:latest").endContainer()
                    .endSpec()
                    .endTemplate()
                    .endSpec()
                    .build();
            assertThatThrownBy(() -> limited.apps().deployments().inNamespace(ns).resource(deployment).create())
                    .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode())
                            .isEqualTo(403));
            assertThatThrownBy(() -> limited.pods().inNamespace(ns).list())
                    .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode())
                            .isEqualTo(403));
        }
    }

    @Test
    void serverSideDryRunCreatesNothing() throws Exception {
        Job result = client().batch().v1().jobs().inNamespace(cluster.namespace()).resource(job("dry", "worker:latest"))
                .dryRun().create();
        // Defaulted by the server, so it really went through admission and defaulting.
        assertThat(result.getSpec().getCompletions()).isEqualTo(1);
        assertThat(result.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds()).isNotNull();
        Thread.sleep(1000);
        assertThat(client().batch().v1().jobs().inNamespace(cluster.namespace()).withName("dry").get()).isNull();
        assertThat(client().pods().inNamespace(cluster.namespace()).list().getItems()).isEmpty();
    }

    @Test
    void restrictedPodSecurityRefusesPrivilegedAndAdmitsHardenedPods() {
        String ns = cluster.createNamespace("restricted",
                Map.of("pod-security.kubernetes.io/enforce", "restricted"));
        Pod privileged = new PodBuilder()
                .withNewMetadata().withName("privileged").endMetadata()
                .withNewSpec()
                .addNewContainer().withName("main").withImage("worker:latest")
                .withNewSecurityContext().withPrivileged(true).endSecurityContext()
                .endContainer()
                .endSpec()
                .build();
        assertThatThrownBy(() -> client().pods().inNamespace(ns).resource(privileged).create())
                .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
                    assertThat(e.getCode()).isEqualTo(403);
                    assertThat(e.getMessage()).contains("violates PodSecurity \"restricted");
                });

        Pod hardened = new PodBuilder()
                .withNewMetadata().withName("hardened").endMetadata()
                .withNewSpec()
                .withNewSecurityContext()
                .withRunAsNonRoot(true).withRunAsUser(1000L)
                .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile()
                .endSecurityContext()
                .addNewContainer().withName("main").withImage("worker:latest")
                .withNewSecurityContext()
                .withAllowPrivilegeEscalation(false)
                .withNewCapabilities().withDrop("ALL").endCapabilities()
                .endSecurityContext()
                .endContainer()
                .endSpec()
                .build();
        Pod created = client().pods().inNamespace(ns).resource(hardened).create();
        assertThat(created.getMetadata().getUid()).isNotBlank();
    }
}
