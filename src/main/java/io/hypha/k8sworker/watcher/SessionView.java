package io.hypha.k8sworker.watcher;

import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobCondition;
import io.hypha.k8sworker.kube.SessionMeta;
import io.vertx.core.json.JsonObject;

/** A session as Kubernetes shows it: its Job, its newest pod, and what they say about its state. */
record SessionView(Job job, List<Pod> pods) {

    /** Waiting reasons after which a pod will not start without a change from outside. */
    static final List<String> FATAL_WAITING = List.of("ErrImagePull", "ImagePullBackOff", "InvalidImageName",
            "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError");

    String annotation(String key) {
        Map<String, String> a = job.getMetadata().getAnnotations();
        return a == null ? null : a.get(key);
    }

    String sessionId() {
        return annotation(SessionMeta.SESSION_ID);
    }

    String workspace() {
        return annotation(SessionMeta.WORKSPACE);
    }

    /** The Hypha user who started the session; null on Jobs made before the worker recorded it. */
    String user() {
        return annotation(SessionMeta.USER);
    }

    String jobName() {
        return job.getMetadata().getName();
    }

    String jobType() {
        Map<String, String> l = job.getMetadata().getLabels();
        return l == null ? null : l.get(SessionMeta.JOB_TYPE);
    }

    Optional<Pod> latestPod() {
        return pods.stream().max(Comparator.comparing(p -> String.valueOf(p.getMetadata().getCreationTimestamp())));
    }

    Optional<JobCondition> jobCondition(String type) {
        if (job.getStatus() == null || job.getStatus().getConditions() == null) {
            return Optional.empty();
        }
        return job.getStatus().getConditions().stream()
                .filter(c -> type.equals(c.getType()) && "True".equals(c.getStatus())).findFirst();
    }

    static Optional<ContainerStatus> mainContainer(Pod pod) {
        if (pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null) {
            return Optional.empty();
        }
        return pod.getStatus().getContainerStatuses().stream()
                .filter(c -> SessionMeta.MAIN_CONTAINER.equals(c.getName())).findFirst();
    }

    static Optional<PodCondition> podCondition(Pod pod, String type) {
        if (pod.getStatus() == null || pod.getStatus().getConditions() == null) {
            return Optional.empty();
        }
        return pod.getStatus().getConditions().stream().filter(c -> type.equals(c.getType())).findFirst();
    }

    static String phase(Pod pod) {
        return pod.getStatus() == null ? null : pod.getStatus().getPhase();
    }

    /** Why the session cannot start, or null while it still can. */
    String failure() {
        Optional<JobCondition> failed = jobCondition("Failed");
        if (failed.isPresent()) {
            JobCondition c = failed.get();
            return "Job failed: " + c.getReason() + (c.getMessage() == null ? "" : ": " + c.getMessage()) + podTermination();
        }
        Optional<Pod> pod = latestPod();
        if (pod.isEmpty()) {
            return null;
        }
        Optional<ContainerStatus> main = mainContainer(pod.get());
        if (main.isPresent() && main.get().getState() != null && main.get().getState().getWaiting() != null) {
            String reason = main.get().getState().getWaiting().getReason();
            if (FATAL_WAITING.contains(reason)) {
                String msg = main.get().getState().getWaiting().getMessage();
                return reason + (msg == null || msg.isBlank() ? "" : ": " + msg);
            }
        }
        if ("Failed".equals(phase(pod.get()))) {
            return "pod " + pod.get().getMetadata().getName() + " failed" + podTermination();
        }
        if (main.isPresent() && restartedAfterFailing(main.get())) {
            // A real kubelet shows CrashLoopBackOff only for an instant before each restart; between
            // restarts the status says the container failed again and counts the restarts.
            var t = main.get().getState().getTerminated();
            return "CrashLoopBackOff: container restarted " + main.get().getRestartCount() + " times, last exited with code "
                    + t.getExitCode() + (t.getReason() == null ? "" : " (" + t.getReason() + ")");
        }
        return null;
    }

    /** Failed again after at least one restart: the pod keeps restarting a container that keeps failing. */
    static boolean restartedAfterFailing(ContainerStatus c) {
        return c.getRestartCount() != null && c.getRestartCount() >= 1 && c.getState() != null && c.getState().getTerminated() != null
                && c.getState().getTerminated().getExitCode() != null && c.getState().getTerminated().getExitCode() != 0;
    }

    private String podTermination() {
        return latestPod().flatMap(SessionView::mainContainer)
                .map(c -> c.getState() != null && c.getState().getTerminated() != null ? c.getState().getTerminated()
                        : c.getLastState() != null ? c.getLastState().getTerminated() : null)
                .map(t -> " (container exited with code " + t.getExitCode()
                        + (t.getReason() == null ? "" : ", " + t.getReason())
                        + (t.getMessage() == null || t.getMessage().isBlank() ? "" : ": " + t.getMessage()) + ")")
                .orElse("");
    }

    /**
     * Whether the Job still holds a place under the session limits: until Kubernetes has finished it
     * or it is being deleted. A crash-looping or retrying pod is "failed" to its caller but still
     * runs, so it counts.
     */
    boolean occupiesSlot() {
        return job.getMetadata().getDeletionTimestamp() == null
                && Stream.of("Complete", "SuccessCriteriaMet", "Failed", "FailureTarget").noneMatch(t -> jobCondition(t).isPresent());
    }

    /** The session's status in the worker contract's words. */
    String status() {
        if (job.getMetadata().getDeletionTimestamp() != null) {
            return "stopping";
        }
        if (jobCondition("Complete").isPresent() || jobCondition("SuccessCriteriaMet").isPresent()) {
            return "completed";
        }
        if (failure() != null) {
            return "failed";
        }
        Optional<Pod> pod = latestPod();
        if (pod.isPresent()) {
            String phase = phase(pod.get());
            if ("Running".equals(phase)) {
                return "running";
            }
            if ("Succeeded".equals(phase)) {
                return "completed";
            }
        }
        return "starting";
    }

    /** Session info as {@code list_sessions} and {@code get_session_info} return it. */
    JsonObject toInfo() {
        JsonObject info = new JsonObject()
                .put("session_id", sessionId())
                .put("app_id", annotation(SessionMeta.APP_ID))
                .put("workspace", workspace())
                .put("client_id", annotation(SessionMeta.CLIENT_ID))
                .put("status", status())
                .put("app_type", jobType())
                .put("created_at", annotation(SessionMeta.CREATED_AT))
                .put("job_name", jobName())
                .put("pod_name", latestPod().map(p -> p.getMetadata().getName()).orElse(null))
                .put("service_id", annotation(SessionMeta.SERVICE_ID));
        if (annotation(SessionMeta.ENTRY_POINT) != null) {
            info.put("entry_point", annotation(SessionMeta.ENTRY_POINT));
        }
        String failure = failure();
        if (failure != null) {
            info.put("error", failure);
        }
        info.put("metadata", new JsonObject().put("namespace", job.getMetadata().getNamespace())
                .put("caller", annotation(SessionMeta.CALLER)));
        return info;
    }
}
