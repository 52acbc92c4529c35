package io.hypha.k8sworker.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;

class JobFactoryTest {

    private final WorkerConfig config = WorkerConfig.load(Path.of("conf/config.yaml"), Map.of());
    private final JobFactory factory = new JobFactory(config);
    private final K8sJobType type = new K8sJobType(config);

    private LaunchRequest request(String token) {
        return new LaunchRequest("ws-a/app-1", "my-app", "ws-a", "app-1", "http://hypha", token, "ws-a/caller", null,
                Map.of("image", "python:3.11", "command", java.util.List.of("python", "-c", "1"), "timeout", 60,
                        "env", Map.of("X", "y")));
    }

    private Job build(LaunchRequest r) {
        CompiledManifest compiled = type.compile(r.manifest());
        return factory.job(r, type.name(), type.plan(compiled, r), SessionMeta.jobName(r.sessionId(), r.clientId()));
    }

    @Test
    void theTokenComesFromTheSessionSecretAndNeverAppearsInTheJob() {
        LaunchRequest r = request("very-secret-token");
        Job job = build(r);
        Container main = job.getSpec().getTemplate().getSpec().getContainers().get(0);
        EnvVar token = main.getEnv().stream().filter(e -> e.getName().equals("HYPHA_TOKEN")).findFirst().orElseThrow();
        assertThat(token.getValue()).isNull();
        assertThat(token.getValueFrom().getSecretKeyRef().getName()).isEqualTo(SessionMeta.tokenSecretName(job.getMetadata().getName()));
        assertThat(job.toString()).doesNotContain("very-secret-token");
        Secret secret = factory.tokenSecret(r, type.name(), job.getMetadata().getName());
        assertThat(secret.getStringData()).containsEntry(SessionMeta.TOKEN_KEY, "very-secret-token");
        assertThat(secret.getMetadata().getLabels()).containsEntry(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(r.sessionId()));
    }

    @Test
    void withoutATokenThereIsNoTokenVariable() {
        Container main = build(request(null)).getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(main.getEnv()).noneMatch(e -> e.getName().equals("HYPHA_TOKEN"));
    }

    @Test
    void everyJobIsHardenedBoundedAndFindableFromItsMetadataAlone() {
        Job job = build(request(null));
        assertThat(job.getSpec().getActiveDeadlineSeconds()).isEqualTo(60L);
        assertThat(job.getSpec().getTtlSecondsAfterFinished()).isEqualTo(config.kubernetes().ttlSecondsAfterFinished());
        assertThat(job.getSpec().getBackoffLimit()).isZero();
        var pod = job.getSpec().getTemplate().getSpec();
        assertThat(pod.getAutomountServiceAccountToken()).isFalse();
        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        var sc = pod.getContainers().get(0).getSecurityContext();
        assertThat(sc.getAllowPrivilegeEscalation()).isFalse();
        assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(job.getMetadata().getAnnotations()).containsEntry(SessionMeta.SESSION_ID, "ws-a/app-1")
                .containsEntry(SessionMeta.WORKSPACE, "ws-a").containsEntry(SessionMeta.APP_ID, "my-app")
                .containsEntry(SessionMeta.CLIENT_ID, "app-1").containsEntry(SessionMeta.CALLER, "ws-a/caller")
                .containsKey(SessionMeta.CREATED_AT);
        assertThat(job.getSpec().getTemplate().getMetadata().getLabels()).containsAllEntriesOf(job.getMetadata().getLabels());
        assertThat(pod.getContainers().get(0).getEnv()).extracting(EnvVar::getName)
                .contains("HYPHA_SERVER_URL", "HYPHA_WORKSPACE", "HYPHA_CLIENT_ID", "HYPHA_APP_ID", "HYPHA_SESSION_ID", "X");
    }

    /**
     * A token on a command line shows in the Job, in {@code ps} and in the kubelet's logs: every job
     * type, with the caller's token or the operator's, passes it in the environment only, and no
     * command or argument refers to it with $(...).
     */
    @Test
    void noJobTypePutsATokenOrAReferenceToOneOnTheCommandLine() {
        for (JobType t : JobTypes.enabled(config)) {
            for (String token : java.util.Arrays.asList("caller-token-on-no-command-line", null)) {
                // k8s-pod is Hypha's name for k8s-job
                Map<String, Object> manifest = t.name().startsWith("k8s-")
                        ? Map.of("image", "python:3.11", "command", java.util.List.of("python", "-c", "1"))
                        : Map.of("type", t.name());
                LaunchRequest r = new LaunchRequest("ws-a/app-1", "my-app", "ws-a", "app-1", "http://hypha", token, "ws-a/caller",
                        null, manifest, "alice");
                Job job = factory.job(r, t.name(), t.plan(t.compile(manifest), r), SessionMeta.jobName(r.sessionId(), r.clientId()));
                for (Container c : job.getSpec().getTemplate().getSpec().getContainers()) {
                    java.util.List<String> line = new java.util.ArrayList<>();
                    line.addAll(c.getCommand() == null ? java.util.List.of() : c.getCommand());
                    line.addAll(c.getArgs() == null ? java.util.List.of() : c.getArgs());
                    assertThat(line).as("%s with token %s", t.name(), token)
                            .noneMatch(a -> a.contains("caller-token-on-no-command-line") || a.contains("TOKEN"));
                }
                if (!t.name().startsWith("k8s-") || token != null) {
                    EnvVar fromSecret = job.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv().stream()
                            .filter(e -> e.getName().equals("HYPHA_TOKEN")).findFirst().orElseThrow();
                    assertThat(fromSecret.getValue()).isNull();
                    assertThat(fromSecret.getValueFrom().getSecretKeyRef()).isNotNull();
                }
                assertThat(job.getMetadata().getAnnotations()).containsEntry(SessionMeta.USER, "alice");
            }
        }
    }

    @Test
    void theOperatorsPlacementAppliesToEveryJobAndItsSelectorKeysWinOverTheCallers() {
        WorkerConfig placed = WorkerConfig.load(Path.of("conf/config.yaml"), Map.of(
                "HYPHA_K8S_WORKER_KUBERNETES_JOB_NODE_SELECTOR", "hypha.test/node=real",
                "HYPHA_K8S_WORKER_KUBERNETES_JOB_TOLERATIONS",
                "[{\"key\":\"hypha.test/node\",\"operator\":\"Equal\",\"value\":\"real\",\"effect\":\"NoSchedule\"}]"));
        K8sJobType k8sJob = new K8sJobType(placed);
        LaunchRequest r = new LaunchRequest("ws-a/app-1", "my-app", "ws-a", "app-1", "http://hypha", null, "ws-a/caller", null,
                Map.of("image", "python:3.11", "node_selector", Map.of("hypha.test/node", "kwok", "disk", "ssd")), "alice");
        Job job = new JobFactory(placed).job(r, k8sJob.name(), k8sJob.plan(k8sJob.compile(r.manifest()), r), "j");
        var pod = job.getSpec().getTemplate().getSpec();
        assertThat(pod.getNodeSelector()).containsExactlyInAnyOrderEntriesOf(Map.of("hypha.test/node", "real", "disk", "ssd"));
        assertThat(pod.getTolerations()).singleElement().satisfies(t -> {
            assertThat(t.getKey()).isEqualTo("hypha.test/node");
            assertThat(t.getOperator()).isEqualTo("Equal");
            assertThat(t.getValue()).isEqualTo("real");
            assertThat(t.getEffect()).isEqualTo("NoSchedule");
        });

        // claude-agent takes no placement from callers at all, and still gets the operator's
        ClaudeAgentType agent = new ClaudeAgentType(placed);
        LaunchRequest a = new LaunchRequest("ws-a/app-2", "my-app", "ws-a", "app-2", "http://hypha", "t", "ws-a/caller", null, Map.of(), "alice");
        var agentPod = new JobFactory(placed).job(a, agent.name(), agent.plan(agent.compile(a.manifest()), a), "k")
                .getSpec().getTemplate().getSpec();
        assertThat(agentPod.getNodeSelector()).containsExactlyEntriesOf(Map.of("hypha.test/node", "real"));
        assertThat(agentPod.getTolerations()).hasSize(1);
    }

    @Test
    void withoutAnOperatorPlacementAJobHasNoneOfItsOwn() {
        var pod = build(request(null)).getSpec().getTemplate().getSpec();
        assertThat(pod.getNodeSelector()).isNullOrEmpty();
        assertThat(pod.getTolerations()).isEmpty();
    }
}
