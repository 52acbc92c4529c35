package io.hypha.k8sworker.kube;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.dsl.LogWatch;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.vertx.core.Future;

/**
 * A Kubernetes in memory for in-process tests: informers are the handlers the verticle registered,
 * to which a test pushes adds, updates and deletions (as fabric8 would, from a thread of its own);
 * deletions the verticle asks for are recorded and, like the API server's, reach the Job informer.
 */
public final class FakeKubeOps implements KubeOps {

    private final List<ResourceEventHandler<Job>> jobHandlers = new CopyOnWriteArrayList<>();
    private final List<ResourceEventHandler<Pod>> podHandlers = new CopyOnWriteArrayList<>();
    private final List<ResourceEventHandler<Event>> eventHandlers = new CopyOnWriteArrayList<>();
    private final Map<String, Job> jobs = new ConcurrentHashMap<>();
    private final Map<String, Pod> pods = new HashMap<>();
    private final Map<String, List<Event>> eventsByObject = new ConcurrentHashMap<>();
    /** Names of the Jobs the verticle deleted, in order. */
    public final List<String> deletedJobs = new CopyOnWriteArrayList<>();
    /** Names of the suspended Jobs the verticle deleted, in order. */
    public final List<String> deletedSuspendedJobs = new CopyOnWriteArrayList<>();
    /** What a container's log read answers, by pod name; absent pods have an empty log. */
    public volatile Function<String, Future<String>> logs = pod -> Future.succeededFuture("");

    @Override
    public String namespace() {
        return "fake";
    }

    /** An informer as the verticle sees it: always watching once started. */
    private static final class Started implements EventInformer {
        private final Function<String, List<Event>> about;
        private volatile boolean open = true;

        Started(Function<String, List<Event>> about) {
            this.about = about;
        }

        @Override
        public List<Event> about(String objectName) {
            return about.apply(objectName);
        }

        @Override
        public boolean isWatching() {
            return open;
        }

        @Override
        public void close() {
            open = false;
        }
    }

    @Override
    public Future<Informer> informJobs(Map<String, String> labels, ResourceEventHandler<Job> handler) {
        jobHandlers.add(handler);
        jobs.values().forEach(handler::onAdd);
        return Future.succeededFuture(new Started(name -> List.of()));
    }

    @Override
    public Future<Informer> informPods(Map<String, String> labels, ResourceEventHandler<Pod> handler) {
        podHandlers.add(handler);
        return Future.succeededFuture(new Started(name -> List.of()));
    }

    @Override
    public Future<EventInformer> informEvents(ResourceEventHandler<Event> handler) {
        eventHandlers.add(handler);
        return Future.succeededFuture(new Started(name -> new ArrayList<>(eventsByObject.getOrDefault(name, List.of()))));
    }

    // ---------------------------------------------------------------- what a test pushes

    /** A Job appears or changes. */
    public void job(Job job) {
        Job old = jobs.put(job.getMetadata().getName(), job);
        jobHandlers.forEach(h -> {
            if (old == null) {
                h.onAdd(job);
            } else {
                h.onUpdate(old, job);
            }
        });
    }

    public void jobGone(String name) {
        Job old = jobs.remove(name);
        if (old != null) {
            jobHandlers.forEach(h -> h.onDelete(old, false));
        }
    }

    /** A pod appears or changes. */
    public synchronized void pod(Pod pod) {
        Pod old = pods.put(pod.getMetadata().getName(), pod);
        podHandlers.forEach(h -> {
            if (old == null) {
                h.onAdd(pod);
            } else {
                h.onUpdate(old, pod);
            }
        });
    }

    public void event(Event event) {
        eventsByObject.computeIfAbsent(event.getInvolvedObject().getName(), k -> new CopyOnWriteArrayList<>()).add(event);
        eventHandlers.forEach(h -> h.onAdd(event));
    }

    // ---------------------------------------------------------------- what the verticle asks

    @Override
    public Future<Job> createSession(Job job, Secret tokenSecret) {
        job(job);
        return Future.succeededFuture(job);
    }

    /** Resumed Jobs' names, in order. */
    public final List<String> resumedJobs = new CopyOnWriteArrayList<>();

    @Override
    public Future<Void> resumeJob(String name) {
        Job job = jobs.get(name);
        if (job == null) {
            return Future.failedFuture(new IllegalStateException("no Job " + name));
        }
        resumedJobs.add(name);
        job(new io.fabric8.kubernetes.api.model.batch.v1.JobBuilder(job).editSpec().withSuspend(false).endSpec().build());
        return Future.succeededFuture();
    }

    @Override
    public Future<Boolean> deleteSuspendedJob(String name, String resourceVersion) {
        deletedSuspendedJobs.add(name);
        boolean existed = jobs.containsKey(name);
        jobGone(name);
        return Future.succeededFuture(existed);
    }

    @Override
    public Future<Boolean> deleteJob(String name) {
        deletedJobs.add(name);
        boolean existed = jobs.containsKey(name);
        jobGone(name);
        return Future.succeededFuture(existed);
    }

    @Override
    public Future<String> containerLog(String pod, String container, boolean previous, int tailLines, int limitBytes) {
        return logs.apply(pod);
    }

    @Override
    public Future<ExecResult> exec(String pod, String container, List<String> command, int timeoutSeconds, int maxBytes) {
        return Future.succeededFuture(new ExecResult(0, String.join(" ", command), "", false, false));
    }

    /** A followed log: where the verticle wants its bytes, and the end of its stream. */
    private record LogStream(OutputStream sink, CompletableFuture<Throwable> end) implements LogWatch {
        @Override
        public InputStream getOutput() {
            return null;
        }

        @Override
        public CompletionStage<Throwable> onClose() {
            return end;
        }

        @Override
        public void close() {
            end.complete(null);
        }
    }

    private final Map<String, LogStream> followed = new ConcurrentHashMap<>();

    @Override
    public Future<LogWatch> followContainerLog(String pod, String container, int tailLines, OutputStream sink) {
        LogStream stream = new LogStream(sink, new CompletableFuture<>());
        followed.put(pod, stream);
        return Future.succeededFuture(stream);
    }

    /** The container of a followed pod writes (as the API server's stream would hand it over). */
    public void writeLog(String pod, String text) throws IOException {
        followed.get(pod).sink().write(text.getBytes(StandardCharsets.UTF_8));
    }

    /** The followed pod's log stream ends (its container exited). */
    public void endLog(String pod) {
        followed.get(pod).end().complete(null);
    }

    @Override
    public Future<Boolean> reachable() {
        return Future.succeededFuture(true);
    }
}
