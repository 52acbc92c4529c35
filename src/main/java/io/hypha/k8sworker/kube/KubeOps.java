package io.hypha.k8sworker.kube;

import java.io.OutputStream;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.dsl.LogWatch;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.vertx.core.Future;

/**
 * Every Kubernetes call of the worker, as Vert.x futures completed on the caller's context. The
 * verticles depend on this interface only, so that they can be tested in process against a fake;
 * {@link Fabric8KubeOps} is the real one. Informers report through fabric8's
 * {@link ResourceEventHandler}, called on threads of their own: a handler hops onto its verticle's
 * context before it touches anything.
 */
public interface KubeOps {

    String namespace();

    /**
     * Creates a session's Job, suspended, and, when it has one, its token Secret owned by the Job,
     * such that a worker killed at any point leaves nothing behind for long (see
     * {@link Fabric8KubeOps#createSession}). No pod runs until {@link #resumeJob}.
     */
    Future<Job> createSession(Job job, Secret tokenSecret);

    /** Lets a session's suspended Job run its pod. */
    Future<Void> resumeJob(String name);

    /** Deletes a Job still suspended and unchanged since {@code resourceVersion}; true if it did. */
    Future<Boolean> deleteSuspendedJob(String name, String resourceVersion);

    /** Deletes a Job with its pods (background propagation); true if it existed. */
    Future<Boolean> deleteJob(String name);

    /**
     * The end of one container's log (its last {@code tailLines} lines, of those the first
     * {@code limitBytes} bytes); empty when the pod or its log is gone. Fails with a
     * {@link RejectedExecutionException} when the log reads allowed at once are all taken.
     */
    Future<String> containerLog(String pod, String container, boolean previous, int tailLines, int limitBytes);

    /**
     * Runs a command in a pod's container; output beyond {@code maxBytes} (stdout and stderr
     * together) is dropped, after {@code timeoutSeconds} the result says it timed out. Opening it
     * counts as a log read ({@link RejectedExecutionException} when they are all taken).
     */
    Future<ExecResult> exec(String pod, String container, List<String> command, int timeoutSeconds, int maxBytes);

    /**
     * Follows one container's log from its last {@code tailLines} lines into {@code sink}, which may
     * block to slow the stream down. Opening it counts as a log read.
     */
    Future<LogWatch> followContainerLog(String pod, String container, int tailLines, OutputStream sink);

    /** Whether the API server answers. */
    Future<Boolean> reachable();

    /** Starts watching the Jobs with these labels; completes once the initial list was handed to {@code handler}. */
    Future<Informer> informJobs(Map<String, String> labels, ResourceEventHandler<Job> handler);

    /** Starts watching the Pods with these labels; completes once the initial list was handed to {@code handler}. */
    Future<Informer> informPods(Map<String, String> labels, ResourceEventHandler<Pod> handler);

    /** Starts watching the namespace's events (they cannot be label-selected), kept indexed by their object's name. */
    Future<EventInformer> informEvents(ResourceEventHandler<Event> handler);

    /** What a command run in a pod left: its exit code (null if unknown), output cut at the limit, whether it timed out. */
    record ExecResult(Integer exitCode, String stdout, String stderr, boolean truncated, boolean timedOut) {
    }

    /** A running informer. */
    interface Informer {
        /** Whether its watch is open, so that what it has shown is current. */
        boolean isWatching();

        void close();
    }

    /** The events informer, whose cache answers which events are about an object. */
    interface EventInformer extends Informer {
        /** The cached events whose involved object has this name. */
        List<Event> about(String objectName);
    }

    /** Oldest first: by when each event last happened. */
    Comparator<Event> BY_TIME = Comparator.comparing(e -> {
        if (e.getLastTimestamp() != null) {
            return e.getLastTimestamp();
        }
        if (e.getEventTime() != null) {
            return String.valueOf(e.getEventTime().getTime());
        }
        return String.valueOf(e.getMetadata().getCreationTimestamp());
    });
}
