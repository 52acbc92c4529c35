package io.hypha.k8sworker.kube;

import java.util.List;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobSpec;

/**
 * Trims the objects the informers cache to what the worker reads from them: metadata (names,
 * labels, annotations, times, deletion), a Job's suspension and status, a pod's node and address, container
 * names, phase, conditions and container states. What a caller put into a session (env, command,
 * args, volumes) and the bulk of container specs and statuses go. Each object is trimmed in place,
 * so that the informer's handlers see the same trimmed copy as its cache.
 */
public final class LeanObjects {

    /** kubectl apply's copy of the whole object, as large as the object itself. */
    static final String LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

    private LeanObjects() {
    }

    static void metadata(ObjectMeta meta) {
        if (meta == null) {
            return;
        }
        meta.setManagedFields(null);
        if (meta.getAnnotations() != null) {
            meta.getAnnotations().remove(LAST_APPLIED);
        }
    }

    public static Job job(Job job) {
        metadata(job.getMetadata());
        JobSpec spec = job.getSpec();
        if (spec != null) {
            JobSpec lean = new JobSpec();
            lean.setSuspend(spec.getSuspend());
            lean.setActiveDeadlineSeconds(spec.getActiveDeadlineSeconds());
            lean.setBackoffLimit(spec.getBackoffLimit());
            lean.setTtlSecondsAfterFinished(spec.getTtlSecondsAfterFinished());
            job.setSpec(lean);
        }
        if (job.getStatus() != null) {
            job.getStatus().setUncountedTerminatedPods(null);
        }
        return job;
    }

    public static Pod pod(Pod pod) {
        metadata(pod.getMetadata());
        PodSpec spec = pod.getSpec();
        if (spec != null) {
            PodSpec lean = new PodSpec();
            lean.setNodeName(spec.getNodeName());
            lean.setRestartPolicy(spec.getRestartPolicy());
            // the container names stay: logs are read by name
            lean.setContainers(spec.getContainers() == null ? null
                    : spec.getContainers().stream().map(c -> {
                        Container named = new Container();
                        named.setName(c.getName());
                        return named;
                    }).toList());
            pod.setSpec(lean);
        }
        PodStatus status = pod.getStatus();
        if (status != null) {
            PodStatus lean = new PodStatus();
            lean.setPhase(status.getPhase());
            lean.setReason(status.getReason());
            lean.setMessage(status.getMessage());
            lean.setConditions(status.getConditions());
            lean.setStartTime(status.getStartTime());
            // where a session's web ports are proxied to
            lean.setPodIP(status.getPodIP());
            lean.setContainerStatuses(containerStatuses(status.getContainerStatuses()));
            lean.setInitContainerStatuses(containerStatuses(status.getInitContainerStatuses()));
            pod.setStatus(lean);
        }
        return pod;
    }

    private static List<ContainerStatus> containerStatuses(List<ContainerStatus> statuses) {
        if (statuses == null) {
            return null;
        }
        return statuses.stream().map(s -> {
            ContainerStatus lean = new ContainerStatus();
            lean.setName(s.getName());
            lean.setState(s.getState());
            lean.setLastState(s.getLastState());
            lean.setReady(s.getReady());
            lean.setStarted(s.getStarted());
            lean.setRestartCount(s.getRestartCount());
            return lean;
        }).toList();
    }

    public static Event event(Event event) {
        metadata(event.getMetadata());
        return event;
    }
}
