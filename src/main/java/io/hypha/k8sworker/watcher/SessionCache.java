package io.hypha.k8sworker.watcher;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.hypha.k8sworker.kube.KubeOps;
import io.hypha.k8sworker.kube.SessionMeta;
import io.vertx.core.Context;
import io.vertx.core.Future;

/**
 * What Kubernetes shows of this worker's sessions, from one label-selected informer on our Jobs,
 * one on their Pods and one on the namespace's events (no polling), indexed by session. The
 * informers' callbacks come on fabric8's threads and are replayed on the watcher's context, where
 * the indexes are updated first and then each {@link Listener} is told, in the order they were added.
 */
final class SessionCache {

    /** Told of each change once the indexes show it; every method runs on the watcher's context. */
    interface Listener {
        default void jobSeen(Job job, String sessionId) {
        }

        default void jobGone(Job job, String sessionId) {
        }

        default void podSeen(Pod pod, String sessionId) {
        }

        default void podGone(Pod pod) {
        }

        default void eventSeen(Event event) {
        }
    }

    private final Context context;
    private final KubeOps kube;
    private final Map<String, String> selector;
    private final Map<String, Job> jobsByName = new HashMap<>();
    /** Session id to Job name, so that looking a session up does not scan every Job. */
    private final Map<String, String> jobNameBySession = new HashMap<>();
    private final Map<String, Map<String, Pod>> podsBySessionKey = new HashMap<>();
    private final List<Listener> listeners = new ArrayList<>();
    private KubeOps.Informer jobInformer;
    private KubeOps.Informer podInformer;
    private KubeOps.EventInformer eventInformer;

    SessionCache(Context context, KubeOps kube, String serviceId) {
        this.context = context;
        this.kube = kube;
        this.selector = Map.of(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE, SessionMeta.WORKER, SessionMeta.workerLabel(serviceId));
    }

    void listen(Listener listener) {
        listeners.add(listener);
    }

    /** Starts the informers; done once each has handed over its initial list. */
    Future<Void> start() {
        Future<KubeOps.Informer> jobs = kube.informJobs(selector, handler(this::onJob, this::onJobDeleted));
        Future<KubeOps.Informer> pods = kube.informPods(selector, handler(this::onPod, this::onPodDeleted));
        Future<KubeOps.EventInformer> events = kube.informEvents(handler(this::onEvent, e -> { }));
        return Future.all(jobs, pods, events).onSuccess(v -> {
            jobInformer = jobs.result();
            podInformer = pods.result();
            eventInformer = events.result();
        }).mapEmpty();
    }

    void close() {
        for (KubeOps.Informer informer : new KubeOps.Informer[] {jobInformer, podInformer, eventInformer}) {
            if (informer != null) {
                informer.close();
            }
        }
    }

    /** Every informer is watching, so what the cache shows is current. */
    boolean isWatching() {
        return jobInformer != null && jobInformer.isWatching() && podInformer != null && podInformer.isWatching()
                && eventInformer != null && eventInformer.isWatching();
    }

    int size() {
        return jobsByName.size();
    }

    Job job(String name) {
        return jobsByName.get(name);
    }

    Optional<SessionView> view(String sessionId) {
        if (sessionId == null) {
            return Optional.empty();
        }
        String name = jobNameBySession.get(sessionId);
        Job job = name == null ? null : jobsByName.get(name);
        return job == null ? Optional.empty() : Optional.of(viewOf(job));
    }

    SessionView viewOf(Job job) {
        String key = job.getMetadata().getLabels().get(SessionMeta.SESSION_KEY);
        return new SessionView(job, new ArrayList<>(podsBySessionKey.getOrDefault(key, Map.of()).values()));
    }

    /** Every Job of this worker, as sessions (a Job without a session id too). */
    List<SessionView> sessions() {
        return jobsByName.values().stream().map(this::viewOf).toList();
    }

    /** The cached events about an object (a Job or a pod), in no particular order. */
    List<Event> eventsAbout(String objectName) {
        return eventInformer == null ? List.of() : eventInformer.about(objectName);
    }

    static String sessionId(HasMetadata object) {
        Map<String, String> annotations = object.getMetadata().getAnnotations();
        return annotations == null ? null : annotations.get(SessionMeta.SESSION_ID);
    }

    /** Informer callbacks run on fabric8's threads: hop onto our context and do the work there. */
    private <T> ResourceEventHandler<T> handler(Consumer<T> upsert, Consumer<T> delete) {
        return new ResourceEventHandler<>() {
            @Override
            public void onAdd(T obj) {
                context.runOnContext(v -> upsert.accept(obj));
            }

            @Override
            public void onUpdate(T oldObj, T newObj) {
                context.runOnContext(v -> upsert.accept(newObj));
            }

            @Override
            public void onDelete(T obj, boolean deletedFinalStateUnknown) {
                context.runOnContext(v -> delete.accept(obj));
            }
        };
    }

    private void onJob(Job job) {
        jobsByName.put(job.getMetadata().getName(), job);
        String sessionId = sessionId(job);
        if (sessionId != null) {
            jobNameBySession.put(sessionId, job.getMetadata().getName());
        }
        listeners.forEach(l -> l.jobSeen(job, sessionId));
    }

    private void onJobDeleted(Job job) {
        jobsByName.remove(job.getMetadata().getName());
        String sessionId = sessionId(job);
        if (sessionId != null) {
            jobNameBySession.remove(sessionId, job.getMetadata().getName());
        }
        listeners.forEach(l -> l.jobGone(job, sessionId));
    }

    private static String sessionKey(Pod pod) {
        return pod.getMetadata().getLabels() == null ? null : pod.getMetadata().getLabels().get(SessionMeta.SESSION_KEY);
    }

    private void onPod(Pod pod) {
        String key = sessionKey(pod);
        if (key != null) {
            podsBySessionKey.computeIfAbsent(key, k -> new LinkedHashMap<>()).put(pod.getMetadata().getName(), pod);
            String sessionId = sessionId(pod);
            listeners.forEach(l -> l.podSeen(pod, sessionId));
        }
    }

    private void onPodDeleted(Pod pod) {
        String key = sessionKey(pod);
        Map<String, Pod> pods = key == null ? null : podsBySessionKey.get(key);
        if (pods != null) {
            pods.remove(pod.getMetadata().getName());
            if (pods.isEmpty()) {
                podsBySessionKey.remove(key);
            }
        }
        listeners.forEach(l -> l.podGone(pod));
    }

    private void onEvent(Event event) {
        listeners.forEach(l -> l.eventSeen(event));
    }
}
