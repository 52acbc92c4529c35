package io.hypha.k8sworker.watcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.hypha.k8sworker.kube.LeanObjects;
import io.hypha.k8sworker.kube.SessionMeta;

/** The informers' trimmed Jobs and pods: the caller's manifest is gone, every answer about the session is the same. */
class LeanSessionViewTest {

    static final KubernetesSerialization JSON = new KubernetesSerialization();
    static final String BIG = "v".repeat(32_000);

    static Job job(String phaseCondition) {
        JobBuilder b = new JobBuilder().withNewMetadata().withName("hypha-a-1").withNamespace("ns")
                .withLabels(Map.of(SessionMeta.SESSION_KEY, "k", SessionMeta.JOB_TYPE, "k8s-job"))
                .withAnnotations(Map.of(SessionMeta.SESSION_ID, "ws/a", SessionMeta.WORKSPACE, "ws", SessionMeta.CLIENT_ID, "a",
                        SessionMeta.CREATED_AT, "2026-11-30T00:00:00Z", SessionMeta.ENTRY_POINT, "main.py",
                        "kubectl.kubernetes.io/last-applied-configuration", BIG))
                .addNewManagedField().withManager("kubectl").endManagedField()
                .endMetadata()
                .withNewSpec().withSuspend(false).withBackoffLimit(0).withActiveDeadlineSeconds(3600L)
                .withNewTemplate().withNewSpec().addNewContainer().withName(SessionMeta.MAIN_CONTAINER).withImage("python:3.11")
                .withCommand("sleep", BIG).withArgs(BIG).addNewEnv().withName("V0").withValue(BIG).endEnv().endContainer()
                .addNewVolume().withName("data").withNewEmptyDir().endEmptyDir().endVolume()
                .endSpec().endTemplate().endSpec();
        if (phaseCondition != null) {
            b.withNewStatus().addNewCondition().withType(phaseCondition).withStatus("True").withReason("BackoffLimitExceeded")
                    .withMessage("Job has reached the specified backoff limit").endCondition().endStatus();
        }
        return b.build();
    }

    static Pod pod(String phase, boolean crashing) {
        PodBuilder b = new PodBuilder().withNewMetadata().withName("hypha-a-1-xyz").withCreationTimestamp("2026-11-30T00:00:01Z")
                .withLabels(Map.of(SessionMeta.SESSION_KEY, "k")).withAnnotations(Map.of(SessionMeta.SESSION_ID, "ws/a")).endMetadata()
                .withNewSpec().withNodeName("kwok-node-0").addNewContainer().withName(SessionMeta.MAIN_CONTAINER).withImage("python:3.11")
                .withCommand("sleep", BIG).addNewEnv().withName("V0").withValue(BIG).endEnv().endContainer()
                .addNewVolume().withName("data").withNewEmptyDir().endEmptyDir().endVolume().endSpec();
        var status = b.withNewStatus().withPhase(phase).withPodIP("10.0.0.1")
                .addNewCondition().withType("PodScheduled").withStatus("True").endCondition();
        var container = status.addNewContainerStatus().withName(SessionMeta.MAIN_CONTAINER).withImage("python:3.11")
                .withImageID("sha256:" + "0".repeat(64)).withRestartCount(crashing ? 1 : 0);
        if (crashing) {
            container.withNewState().withNewWaiting().withReason("CrashLoopBackOff").withMessage("back-off").endWaiting().endState()
                    .withNewLastState().withNewTerminated().withExitCode(3).withReason("Error").endTerminated().endLastState();
        } else {
            container.withNewState().withNewRunning().withStartedAt("2026-11-30T00:00:02Z").endRunning().endState();
        }
        return container.endContainerStatus().endStatus().build();
    }

    static <T> T copy(T o) {
        return JSON.clone(o);
    }

    @Test
    void theTrimmedObjectsAnswerEveryQuestionAsTheWholeOnesDo() {
        for (String condition : new String[] {null, "Failed", "Complete"}) {
            for (Pod pod : List.of(pod("Running", false), pod("Running", true), pod("Pending", false), pod("Failed", false))) {
                Job job = job(condition);
                SessionView whole = new SessionView(job, List.of(pod));
                SessionView lean = new SessionView(LeanObjects.job(copy(job)), List.of(LeanObjects.pod(copy(pod))));
                String what = condition + "/" + pod.getStatus().getPhase();
                assertThat(lean.toInfo()).as(what).isEqualTo(whole.toInfo());
                assertThat(lean.status()).as(what).isEqualTo(whole.status());
                assertThat(lean.failure()).as(what).isEqualTo(whole.failure());
                assertThat(lean.occupiesSlot()).as(what).isEqualTo(whole.occupiesSlot());
            }
        }
    }

    @Test
    void whatTheCallerPutIntoTheSessionIsNotKept() {
        Job job = LeanObjects.job(job(null));
        Pod pod = LeanObjects.pod(pod("Running", true));
        String jobJson = JSON.asJson(job);
        String podJson = JSON.asJson(pod);
        assertThat(jobJson.length()).isLessThan(2000);
        assertThat(podJson.length()).isLessThan(2000);
        assertThat(jobJson).doesNotContain("vvvv", "emptyDir", "python:3.11", "managedFields", "last-applied");
        assertThat(podJson).doesNotContain("vvvv", "emptyDir", "python:3.11", "sha256");
        // what the worker reads stays
        assertThat(job.getSpec().getSuspend()).isFalse();
        assertThat(job.getMetadata().getAnnotations()).containsEntry(SessionMeta.SESSION_ID, "ws/a").containsKey(SessionMeta.ENTRY_POINT);
        assertThat(pod.getSpec().getNodeName()).isEqualTo("kwok-node-0");
        assertThat(pod.getSpec().getContainers()).singleElement().satisfies(c -> assertThat(c.getName()).isEqualTo(SessionMeta.MAIN_CONTAINER));
        assertThat(pod.getStatus().getContainerStatuses()).singleElement()
                .satisfies(c -> assertThat(c.getLastState().getTerminated().getExitCode()).isEqualTo(3));
    }
}
