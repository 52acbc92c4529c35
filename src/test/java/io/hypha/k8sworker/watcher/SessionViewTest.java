package io.hypha.k8sworker.watcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.hypha.k8sworker.kube.SessionMeta;

class SessionViewTest {

    private static JobBuilder job() {
        return new JobBuilder().withNewMetadata().withName("k8s-a").withAnnotations(Map.of(SessionMeta.SESSION_ID, "ws/a")).endMetadata();
    }

    private static Job withCondition(String type) {
        return job().withNewStatus().addNewCondition().withType(type).withStatus("True").endCondition().endStatus().build();
    }

    private static Pod crashLooping() {
        return new PodBuilder().withNewMetadata().withName("k8s-a-x").withCreationTimestamp("2026-11-29T00:00:00Z").endMetadata()
                .withNewStatus().withPhase("Running").addNewContainerStatus().withName(SessionMeta.MAIN_CONTAINER)
                .withNewState().withNewWaiting().withReason("CrashLoopBackOff").endWaiting().endState()
                .endContainerStatus().endStatus().build();
    }

    @Test
    void aSessionHoldsItsPlaceUntilKubernetesHasFinishedOrIsDeletingItsJob() {
        assertThat(new SessionView(job().build(), List.of()).occupiesSlot()).as("starting").isTrue();
        // failed to its caller, yet its pod restarts and holds its resources
        SessionView crashing = new SessionView(job().build(), List.of(crashLooping()));
        assertThat(crashing.status()).isEqualTo("failed");
        assertThat(crashing.occupiesSlot()).isTrue();
        for (String finished : List.of("Complete", "SuccessCriteriaMet", "Failed", "FailureTarget")) {
            assertThat(new SessionView(withCondition(finished), List.of()).occupiesSlot()).as(finished).isFalse();
        }
        Job falseCondition = job().withNewStatus().addNewCondition().withType("Failed").withStatus("False").endCondition().endStatus().build();
        assertThat(new SessionView(falseCondition, List.of()).occupiesSlot()).as("a condition that is not True").isTrue();
        Job deleting = job().editMetadata().withDeletionTimestamp("2026-11-29T00:00:00Z").endMetadata().build();
        assertThat(new SessionView(deleting, List.of()).occupiesSlot()).isFalse();
    }

    private static Pod restarted(int restarts, int exitCode) {
        return new PodBuilder().withNewMetadata().withName("k8s-a-x").withCreationTimestamp("2026-11-29T00:00:00Z").endMetadata()
                .withNewStatus().withPhase("Running").addNewContainerStatus().withName(SessionMeta.MAIN_CONTAINER)
                .withRestartCount(restarts)
                .withNewState().withNewTerminated().withExitCode(exitCode).withReason(exitCode == 0 ? "Completed" : "Error")
                .endTerminated().endState()
                .endContainerStatus().endStatus().build();
    }

    @Test
    void aContainerThatFailsAgainAfterARestartIsACrashLoopAsARealKubeletShowsIt() {
        SessionView looping = new SessionView(job().build(), List.of(restarted(3, 1)));
        assertThat(looping.status()).isEqualTo("failed");
        assertThat(looping.failure()).isEqualTo("CrashLoopBackOff: container restarted 3 times, last exited with code 1 (Error)");
        // the first failure of a pod that may restart (restartPolicy OnFailure) is not a loop yet
        assertThat(new SessionView(job().build(), List.of(restarted(0, 1))).status()).isEqualTo("running");
        assertThat(new SessionView(job().build(), List.of(restarted(2, 0))).failure()).isNull();
    }
}
