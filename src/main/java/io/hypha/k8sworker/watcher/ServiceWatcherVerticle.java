package io.hypha.k8sworker.watcher;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.Admission;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.Health;
import io.hypha.k8sworker.bus.HealthOp;
import io.hypha.k8sworker.bus.HyphaOp;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.bus.ServiceWait;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.StartWatch;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.KubeOps;
import io.hypha.k8sworker.kube.SessionMeta;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Knows every session from one label-selected informer on our Jobs and one on their Pods (no
 * polling), answers session queries and commands, and follows starting sessions until their pod
 * runs, fails, or their service registers in Hypha. Single instance: it holds the informers' view.
 */
public final class ServiceWatcherVerticle extends VerticleBase {

    /** How long room for a launch is held if neither its Job appears nor the launch reports failure. */
    static final long ADMISSION_HOLD_MS = 120_000;

    private static final Logger LOG = LoggerFactory.getLogger(ServiceWatcherVerticle.class);

    private final WorkerConfig config;
    private final KubeOps kube;
    private final Map<String, Job> jobsByName = new HashMap<>();
    /** Session id to Job name, so that looking a session up does not scan every Job. */
    private final Map<String, String> jobNameBySession = new HashMap<>();
    private final Map<String, Map<String, Pod>> podsBySessionKey = new HashMap<>();
    private final Map<String, List<Waiter>> waiters = new HashMap<>();
    /**
     * The start-up progress of recent sessions, for get_logs' "progress" items as Hypha's workers keep
     * them: at most {@link #PROGRESS_PER_SESSION} per session, of the {@link #PROGRESS_SESSIONS} latest
     * sessions, dropped with the Job; kept in memory only, so a restarted worker has none of earlier starts.
     */
    private final Map<String, List<String>> progressBySession = new java.util.LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, List<String>> eldest) {
            return size() > PROGRESS_SESSIONS;
        }
    };
    static final int PROGRESS_PER_SESSION = 50;
    static final int PROGRESS_SESSIONS = 1000;
    /** Sessions admitted whose Job the informer has not shown yet: session id to workspace. */
    private final Map<String, String> admitted = new HashMap<>();
    /** The user of each admitted session that counts towards policy.maxSessionsPerUser; entries leave with {@link #admitted}'s. */
    private final Map<String, String> admittedUsers = new HashMap<>();
    /** Admitted sessions stopped before their Job appeared: the Job is deleted when it does. */
    private final Set<String> stopOnArrival = new HashSet<>();
    private MessageConsumer<JsonObject> consumer;
    private BusClient bus;
    private LogFollows follows;
    private SharedIndexInformer<Job> jobInformer;
    private SharedIndexInformer<Pod> podInformer;
    private SharedIndexInformer<Event> eventInformer;
    private long healthTimer = -1;
    /** The API server's answer to the last reachability check (every 10 s: a probe need not wait for one). */
    private boolean apiServerAnswered;
    private long suspendedTimer = -1;
    /** Our Jobs seen suspended (a launch in progress, or one a killed worker left): name to when first seen, in nanos. */
    private final Map<String, Long> suspendedSince = new HashMap<>();
    /** Suspended Jobs whose deletion is in flight, so that a sweep does not repeat it. */
    private final java.util.Set<String> deletingSuspended = new java.util.HashSet<>();

    public ServiceWatcherVerticle(WorkerConfig config, KubeOps kube) {
        this.config = config;
        this.kube = kube;
    }

    private Map<String, String> selector() {
        return Map.of(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE,
                SessionMeta.WORKER, SessionMeta.workerLabel(config.hypha().serviceId()));
    }

    @Override
    public Future<?> start() {
        follows = new LogFollows(vertx, context, kube);
        bus = new BusClient(vertx);
        consumer = vertx.eventBus().consumer(Addresses.SESSIONS, handlers());
        Future<SharedIndexInformer<Job>> jobs = Future.fromCompletionStage(kube.informJobs(selector(), handler(this::onJob, this::onJobDeleted)), context);
        Future<SharedIndexInformer<Pod>> pods = Future.fromCompletionStage(kube.informPods(selector(), handler(this::onPod, this::onPodDeleted)), context);
        Future<SharedIndexInformer<Event>> events = Future.fromCompletionStage(kube.informEvents(handler(this::onEvent, e -> { })), context);
        healthTimer = vertx.setPeriodic(10_000, t -> checkReachability());
        long graceMs = config.kubernetes().suspendedGraceSeconds() * 1000L;
        suspendedTimer = vertx.setPeriodic(Math.max(500, Math.min(10_000, graceMs / 4)), t -> removeAbandonedLaunches());
        return Future.all(jobs, pods, events, consumer.completion()).onSuccess(v -> {
            jobInformer = jobs.result();
            podInformer = pods.result();
            eventInformer = events.result();
            apiServerAnswered = true;
            LOG.info("watching {} session(s) in namespace {}", jobsByName.size(), kube.namespace());
        });
    }

    @Override
    public Future<?> stop() {
        vertx.cancelTimer(healthTimer);
        vertx.cancelTimer(suspendedTimer);
        follows.closeAll();
        if (jobInformer != null) {
            jobInformer.close();
        }
        if (podInformer != null) {
            podInformer.close();
        }
        if (eventInformer != null) {
            eventInformer.close();
        }
        return consumer.unregister();
    }

    private void checkReachability() {
        Future.fromCompletionStage(kube.reachable(), context).onComplete(ar -> apiServerAnswered = ar.succeeded() && ar.result());
    }

    /** Ready for Kubernetes: the API server answers and every informer is watching (so our view is current). */
    private Future<JsonObject> health() {
        boolean watching = jobInformer != null && jobInformer.isWatching() && podInformer != null && podInformer.isWatching()
                && eventInformer != null && eventInformer.isWatching();
        return Health.answer(apiServerAnswered && watching, new JsonObject().put("apiServer", apiServerAnswered).put("watching", watching));
    }

    /**
     * Deletes our Jobs that have stayed suspended for kubernetes.suspendedGraceSeconds since this
     * worker first saw them: a launch creates its Job suspended and resumes it within moments, so one
     * still suspended was left by a worker that died mid-launch (its Secret, owned by the Job, goes
     * too). Counting from our own first sighting, not the Job's creation time, keeps clocks out of it
     * and gives another replica's launch the whole grace; the deletion is conditional on the resource
     * version we saw, so a Job resumed meanwhile is left alone.
     */
    private void removeAbandonedLaunches() {
        long graceNanos = config.kubernetes().suspendedGraceSeconds() * 1_000_000_000L;
        long now = System.nanoTime();
        for (Map.Entry<String, Long> e : new ArrayList<>(suspendedSince.entrySet())) {
            String name = e.getKey();
            Job job = jobsByName.get(name);
            if (job == null || now - e.getValue() < graceNanos || job.getMetadata().getDeletionTimestamp() != null
                    || !deletingSuspended.add(name)) {
                continue;
            }
            String sessionId = job.getMetadata().getAnnotations() == null ? null : job.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID);
            LOG.warn("session {}: Job {} has been suspended for {} s, its launch was interrupted; deleting it", sessionId, name,
                    (now - e.getValue()) / 1_000_000_000L);
            Future.fromCompletionStage(kube.deleteSuspendedJobAsync(name, job.getMetadata().getResourceVersion()), context)
                    .onComplete(ar -> {
                        deletingSuspended.remove(name);
                        if (ar.failed()) {
                            LOG.warn("session {}: could not delete suspended Job {}: {}", sessionId, name, ar.cause().getMessage());
                        }
                    });
        }
    }

    private static boolean suspended(Job job) {
        return job.getSpec() != null && Boolean.TRUE.equals(job.getSpec().getSuspend());
    }

    /** Informer callbacks run on fabric8's threads: hop onto our context and do the work there. */
    private <T> ResourceEventHandler<T> handler(java.util.function.Consumer<T> upsert, java.util.function.Consumer<T> delete) {
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
        if (suspended(job)) {
            suspendedSince.putIfAbsent(job.getMetadata().getName(), System.nanoTime());
        } else {
            suspendedSince.remove(job.getMetadata().getName());
        }
        String sessionId = job.getMetadata().getAnnotations() == null ? null : job.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID);
        if (sessionId != null) {
            jobNameBySession.put(sessionId, job.getMetadata().getName());
            admitted.remove(sessionId);
            if (stopOnArrival.remove(sessionId) && job.getMetadata().getDeletionTimestamp() == null) {
                deleteSession(viewOf(job)).onFailure(err -> LOG.warn("session {}: could not delete the Job of a stopped launch: {}",
                        sessionId, err.getMessage()));
            }
        }
        sessionChanged(sessionId);
    }

    private void onJobDeleted(Job job) {
        jobsByName.remove(job.getMetadata().getName());
        suspendedSince.remove(job.getMetadata().getName());
        String sessionId = job.getMetadata().getAnnotations() == null ? null : job.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID);
        if (sessionId != null) {
            jobNameBySession.remove(sessionId, job.getMetadata().getName());
            progressBySession.remove(sessionId);
        }
        List<Waiter> pending = sessionId == null ? null : waiters.remove(sessionId);
        if (pending != null) {
            pending.forEach(w -> w.fail(new WorkerException(ErrorCode.START_FAILED, "the session was stopped while it started")));
        }
    }

    private void onPod(Pod pod) {
        String key = sessionKey(pod);
        if (key != null) {
            podsBySessionKey.computeIfAbsent(key, k -> new LinkedHashMap<>()).put(pod.getMetadata().getName(), pod);
            follows.onPod(pod);
            sessionChanged(pod.getMetadata().getAnnotations() == null ? null : pod.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID));
        }
    }

    private void onPodDeleted(Pod pod) {
        String key = sessionKey(pod);
        Map<String, Pod> pods = key == null ? null : podsBySessionKey.get(key);
        follows.podGone(pod.getMetadata().getName());
        if (pods != null) {
            pods.remove(pod.getMetadata().getName());
            if (pods.isEmpty()) {
                podsBySessionKey.remove(key);
            }
        }
    }

    /** A Warning about the Job or a pod of a session that is starting goes to its caller as progress. */
    private void onEvent(Event event) {
        if (waiters.isEmpty() || !"Warning".equals(event.getType()) || event.getInvolvedObject() == null) {
            return;
        }
        String name = event.getInvolvedObject().getName();
        for (Map.Entry<String, List<Waiter>> e : waiters.entrySet()) {
            Optional<SessionView> s = view(e.getKey());
            boolean concerns = s.isPresent() && (s.get().jobName().equals(name)
                    || s.get().pods().stream().anyMatch(p -> p.getMetadata().getName().equals(name)));
            if (concerns) {
                String message = "Warning " + event.getReason() + ": " + event.getMessage();
                e.getValue().forEach(w -> w.progress("warning", message));
            }
        }
    }

    private static String sessionKey(Pod pod) {
        return pod.getMetadata().getLabels() == null ? null : pod.getMetadata().getLabels().get(SessionMeta.SESSION_KEY);
    }

    private Optional<SessionView> view(String sessionId) {
        if (sessionId == null) {
            return Optional.empty();
        }
        String name = jobNameBySession.get(sessionId);
        Job job = name == null ? null : jobsByName.get(name);
        return job == null ? Optional.empty() : Optional.of(viewOf(job));
    }

    private SessionView viewOf(Job job) {
        String key = job.getMetadata().getLabels().get(SessionMeta.SESSION_KEY);
        return new SessionView(job, new ArrayList<>(podsBySessionKey.getOrDefault(key, Map.of()).values()));
    }

    // ------------------------------------------------------------------ requests

    private OperationHandlers handlers() {
        return new OperationHandlers()
                .on(HealthOp.CHECK, body -> health())
                .on(SessionOp.LIST, body -> Future.succeededFuture(list(SessionRequest.fromJson(body))))
                .on(SessionOp.GET, body -> Future.succeededFuture(owned(SessionRequest.fromJson(body)).toInfo()))
                .on(SessionOp.AWAIT, body -> await(StartWatch.fromJson(body)))
                .on(SessionOp.STOP, body -> stop(SessionRequest.fromJson(body)))
                .on(SessionOp.LOGS, body -> logs(SessionRequest.fromJson(body)))
                .on(SessionOp.FOLLOW_LOGS, body -> follows.open(owned(SessionRequest.fromJson(body)), config.logs().tailLines()))
                .on(SessionOp.FOLLOW_NEXT, body -> follows.next(body.getString("follow"), body.getInteger("max", 100)))
                .on(SessionOp.FOLLOW_CLOSE, body -> {
                    follows.close(body.getString("follow"));
                    return Future.succeededFuture();
                })
                .on(SessionOp.STOP_ALL, body -> stopAll())
                .on(SessionOp.EXEC, body -> exec(SessionRequest.fromJson(body), body))
                .on(SessionOp.REPLACE_DAEMON, body -> replaceDaemon(body.getString("sessionId"), body.getString("workspace"),
                        body.getString("daemonApp")))
                .on(SessionOp.ADMIT, body -> admit(Admission.fromJson(body)))
                .on(SessionOp.RELEASE, body -> {
                    admitted.remove(Admission.fromJson(body).sessionId());
                    return Future.succeededFuture();
                });
    }

    private static Throwable unwrap(Throwable t) {
        return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    }

    /** The caller may see sessions of its own workspace; an admin caller (the app controller) may see all. */
    private static boolean visibleTo(SessionView s, SessionRequest request) {
        return request.admin() || Objects.equals(s.workspace(), request.callerWorkspace());
    }

    private SessionView owned(SessionRequest request) {
        String sessionId = request.sessionId();
        SessionView s = view(sessionId).orElseThrow(() -> new WorkerException(ErrorCode.UNKNOWN_SESSION, "unknown session: " + sessionId));
        if (!visibleTo(s, request)) {
            // the same answer as for an unknown id: other workspaces learn nothing
            throw new WorkerException(ErrorCode.UNKNOWN_SESSION, "unknown session: " + sessionId);
        }
        return s;
    }

    private JsonArray list(SessionRequest request) {
        String workspace = request.workspaceFilter();
        JsonArray out = new JsonArray();
        jobsByName.values().stream().map(this::viewOf)
                .filter(s -> s.sessionId() != null && visibleTo(s, request))
                .filter(s -> workspace == null || workspace.equals(s.workspace()))
                .sorted((a, b) -> String.valueOf(a.annotation(SessionMeta.CREATED_AT)).compareTo(String.valueOf(b.annotation(SessionMeta.CREATED_AT))))
                .forEach(s -> out.add(s.toInfo()));
        return out;
    }

    /**
     * Room for one more session of a workspace and a user under policy.maxSessionsPerWorkspace,
     * maxSessionsPerUser and maxSessionsTotal. Launches admitted but not yet seen as Jobs count too,
     * so concurrent starts cannot overshoot; this verticle is the only one deciding, one request at a
     * time. A user's sessions are known from their Jobs' annotation, so a restarted worker counts them.
     */
    private Future<Void> admit(Admission a) {
        if (view(a.sessionId()).isPresent() || admitted.containsKey(a.sessionId())) {
            return Future.failedFuture(new WorkerException(ErrorCode.CONFLICT, "a session with id " + a.sessionId() + " already exists"));
        }
        admittedUsers.keySet().retainAll(admitted.keySet());
        WorkerConfig.Policy policy = config.policy();
        int maxPerUser = a.userLimited() ? config.callers().maxSessionsPerUser() : 0;
        int inWorkspace = 0;
        int ofUser = 0;
        int total = 0;
        for (Job job : jobsByName.values()) {
            SessionView s = viewOf(job);
            if (s.sessionId() != null && !admitted.containsKey(s.sessionId()) && s.occupiesSlot()) {
                inWorkspace += Objects.equals(s.workspace(), a.workspace()) ? 1 : 0;
                ofUser += a.user() != null && a.user().equals(s.user()) ? 1 : 0;
                total++;
            }
        }
        for (Map.Entry<String, String> e : admitted.entrySet()) {
            inWorkspace += e.getValue().equals(a.workspace()) ? 1 : 0;
            ofUser += a.user() != null && a.user().equals(admittedUsers.get(e.getKey())) ? 1 : 0;
            total++;
        }
        // the texts speak of the caller's own sessions only: never the worker's total, nor anyone else's
        if (policy.maxSessionsPerWorkspace() > 0 && inWorkspace >= policy.maxSessionsPerWorkspace()) {
            return Future.failedFuture(new WorkerException(ErrorCode.LIMIT_REACHED, "workspace " + a.workspace() + " has " + inWorkspace
                    + " active sessions, the most allowed (policy.maxSessionsPerWorkspace); stop one first"));
        }
        if (maxPerUser > 0 && ofUser >= maxPerUser) {
            return Future.failedFuture(new WorkerException(ErrorCode.LIMIT_REACHED, "you have " + ofUser
                    + " active sessions, the most allowed per user (policy.maxSessionsPerUser); stop one first"));
        }
        if (policy.maxSessionsTotal() > 0 && total >= policy.maxSessionsTotal()) {
            return Future.failedFuture(new WorkerException(ErrorCode.LIMIT_REACHED, "this worker has no room for more "
                    + "active sessions, the most allowed (policy.maxSessionsTotal) are running; try again later"));
        }
        admitted.put(a.sessionId(), a.workspace());
        if (a.user() != null) {
            admittedUsers.put(a.sessionId(), a.user());
        }
        vertx.setTimer(ADMISSION_HOLD_MS, t -> admitted.remove(a.sessionId(), a.workspace()));
        return Future.succeededFuture();
    }

    private Future<Void> stop(SessionRequest request) {
        String sessionId = request.sessionId();
        Optional<SessionView> s = view(sessionId);
        if (s.isEmpty()) {
            String launchingIn = admitted.get(sessionId);
            if (launchingIn != null && (request.admin() || launchingIn.equals(request.callerWorkspace()))) {
                // its launch is still in flight (or timed out and may yet create the Job)
                stopOnArrival.add(sessionId);
                vertx.setTimer(ADMISSION_HOLD_MS, t -> stopOnArrival.remove(sessionId));
            }
            return Future.succeededFuture();
        }
        if (!visibleTo(s.get(), request)) {
            // the same answer as for an id that does not exist (above): other workspaces learn nothing
            return Future.succeededFuture();
        }
        return deleteSession(s.get());
    }

    private Future<Void> deleteSession(SessionView s) {
        LOG.info("session {}: deleting Job {}", s.sessionId(), s.jobName());
        return Future.fromCompletionStage(kube.deleteJobAsync(s.jobName()), context).mapEmpty();
    }

    private Future<JsonObject> stopAll() {
        List<SessionView> all = jobsByName.values().stream().map(this::viewOf).toList();
        List<Future<Void>> deletions = all.stream().map(this::deleteSession).toList();
        return Future.join(deletions).transform(ar -> Future.succeededFuture(new JsonObject().put("stopped", all.size())));
    }

    // ------------------------------------------------------------------ logs

    private Future<JsonObject> logs(SessionRequest request) {
        SessionView s = owned(request);
        String type = request.logType();
        int offset = request.offset();
        Integer limit = request.limit();
        List<String> objects = new ArrayList<>();
        objects.add(s.jobName());
        s.pods().forEach(p -> objects.add(p.getMetadata().getName()));
        // from the informer's cache: the log reads are the only requests of a get_logs
        List<Event> events = objects.stream().flatMap(name -> eventInformer.getIndexer().byIndex(KubeOps.EVENTS_BY_OBJECT, name).stream())
                .sorted(KubeOps.BY_TIME).toList();
        List<Pod> pods = s.pods().stream()
                .sorted((a, b) -> String.valueOf(a.getMetadata().getCreationTimestamp()).compareTo(String.valueOf(b.getMetadata().getCreationTimestamp())))
                .toList();
        List<Future<String>> logs = new ArrayList<>();
        WorkerConfig.Logs bounds = config.logs();
        for (Pod pod : pods) {
            logs.add(Future.fromCompletionStage(kube.containerLog(pod.getMetadata().getName(), SessionMeta.MAIN_CONTAINER, false,
                    bounds.tailLines(), bounds.limitBytes()), context));
        }
        return Future.join(new ArrayList<>(logs)).transform(ignored -> {
            if (logs.stream().anyMatch(f -> f.failed() && unwrap(f.cause()) instanceof RejectedExecutionException)) {
                return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE,
                        "get_logs: the worker is reading as many logs as it may at once (logs.threads, logs.queue); try again shortly"));
            }
            JsonArray items = new JsonArray();
            for (String p : progressBySession.getOrDefault(s.sessionId(), List.of())) {
                items.add(new JsonObject().put("type", "progress").put("content", p));
            }
            for (Event e : events) {
                String kind = "Warning".equals(e.getType()) ? "error" : "info";
                items.add(new JsonObject().put("type", kind).put("content",
                        e.getReason() + ": " + e.getMessage() + " (" + e.getInvolvedObject().getKind() + " "
                                + e.getInvolvedObject().getName() + ")"));
            }
            for (Future<String> log : logs) {
                if (log.succeeded()) {
                    for (String line : wholeLines(log.result(), bounds.limitBytes()).split("\n")) {
                        if (!line.isEmpty()) {
                            items.add(new JsonObject().put("type", "stdout").put("content", line));
                        }
                    }
                }
            }
            JsonArray filtered = new JsonArray();
            items.stream().map(JsonObject.class::cast).filter(i -> type == null || type.equals(i.getString("type"))).forEach(filtered::add);
            int total = filtered.size();
            int[] page = page(total, offset, limit);
            int from = page[0];
            int to = page[1];
            return Future.succeededFuture(new JsonObject().put("items", new JsonArray(filtered.getList().subList(from, to)))
                    .put("total", total).put("offset", offset).put("limit", limit));
        });
    }

    /**
     * Stops the sessions of the same daemon app in the same workspace that were created before this
     * one: the newest start wins, so concurrent starts of one app also end with a single session.
     */
    private Future<JsonObject> replaceDaemon(String sessionId, String workspace, String daemonApp) {
        Optional<SessionView> current = view(sessionId);
        if (current.isEmpty() || daemonApp == null) {
            return Future.succeededFuture(new JsonObject().put("replaced", new JsonArray()));
        }
        java.time.Instant createdAt = createdAt(current.get());
        List<SessionView> older = jobsByName.values().stream().map(this::viewOf)
                .filter(s -> s.sessionId() != null && !s.sessionId().equals(sessionId))
                .filter(s -> workspace.equals(s.workspace()) && daemonApp.equals(s.annotation(SessionMeta.DAEMON_APP)))
                .filter(s -> createdAt(s).isBefore(createdAt))
                .toList();
        JsonArray replaced = new JsonArray();
        List<Future<Void>> deletions = new ArrayList<>();
        for (SessionView s : older) {
            LOG.info("daemon app {}: session {} replaces session {}", daemonApp, sessionId, s.sessionId());
            replaced.add(s.sessionId());
            deletions.add(deleteSession(s));
        }
        return Future.join(new ArrayList<>(deletions)).transform(x -> Future.succeededFuture(new JsonObject().put("replaced", replaced)));
    }

    private static java.time.Instant createdAt(SessionView s) {
        try {
            return java.time.Instant.parse(s.annotation(SessionMeta.CREATED_AT));
        } catch (RuntimeException e) {
            return java.time.Instant.EPOCH;
        }
    }

    private Future<JsonObject> exec(SessionRequest request, JsonObject body) {
        SessionView s = owned(request);
        Pod pod = s.latestPod().filter(p -> "Running".equals(SessionView.phase(p)) && p.getMetadata().getDeletionTimestamp() == null)
                .orElseThrow(() -> new WorkerException(ErrorCode.INVALID_REQUEST, "session " + request.sessionId()
                        + " has no running pod to execute in (status: " + s.status() + ")"));
        List<String> command = body.getJsonArray("command").stream().map(String::valueOf).toList();
        return Future.fromCompletionStage(kube.exec(pod.getMetadata().getName(), SessionMeta.MAIN_CONTAINER, command,
                        body.getInteger("timeoutSeconds"), body.getInteger("maxBytes")), context)
                .recover(err -> {
                    Throwable cause = unwrap(err);
                    if (cause instanceof RejectedExecutionException) {
                        return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE,
                                "execute: the worker is reading as many logs and opening as many commands as it may at once "
                                        + "(logs.threads, logs.queue); try again shortly"));
                    }
                    return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE, "execute: Kubernetes refused the command: "
                            + cause.getMessage()));
                })
                .map(r -> new JsonObject().put("pod", pod.getMetadata().getName()).put("exitCode", r.exitCode())
                        .put("stdout", r.stdout()).put("stderr", r.stderr()).put("truncated", r.truncated()).put("timedOut", r.timedOut()));
    }

    /**
     * A log read with limitBytes without its last line when the limit cut that line short (or a
     * character in it): callers get whole lines only.
     */
    static String wholeLines(String log, int limitBytes) {
        if (log.endsWith("\n") || log.getBytes(java.nio.charset.StandardCharsets.UTF_8).length < limitBytes) {
            return log;
        }
        return log.substring(0, log.lastIndexOf('\n') + 1);
    }

    /** The [from, to) slice of {@code total} items for a page; long arithmetic, as offset + limit may pass 2^31. */
    static int[] page(int total, int offset, Integer limit) {
        int from = Math.min(Math.max(0, offset), total);
        int to = limit == null ? total : (int) Math.min(total, (long) from + Math.max(0, limit));
        return new int[] {from, to};
    }

    // ------------------------------------------------------------------ following a start

    /** One start waiting for its pod (and maybe its service). */
    private final class Waiter {
        final String sessionId;
        final StartWatch request;
        final Promise<JsonObject> done = Promise.promise();
        final long startedNanos = System.nanoTime();
        String lastProgress;
        long timer = -1;
        boolean podReady;

        Waiter(String sessionId, StartWatch request) {
            this.sessionId = sessionId;
            this.request = request;
        }

        void progress(String type, String message) {
            if (message.equals(lastProgress)) {
                return;
            }
            lastProgress = message;
            recordProgress(sessionId, type, message);
            vertx.eventBus().publish(Addresses.sessionProgress(sessionId), new JsonObject().put("type", type).put("message", message));
        }

        void fail(WorkerException e) {
            vertx.cancelTimer(timer);
            if (done.tryFail(e)) {
                recordProgress(sessionId, "error", e.getMessage());
            }
        }

        void complete(JsonObject info) {
            vertx.cancelTimer(timer);
            if (done.tryComplete(info)) {
                recordProgress(sessionId, "success", "Session " + sessionId + " started");
            }
        }
    }

    /** One progress message, as Hypha's workers log them ("INFO: ..."). */
    private void recordProgress(String sessionId, String type, String message) {
        List<String> list = progressBySession.computeIfAbsent(sessionId, k -> new ArrayList<>());
        if (list.size() < PROGRESS_PER_SESSION) {
            list.add(type.toUpperCase(java.util.Locale.ROOT) + ": " + message);
        }
    }

    private Future<JsonObject> await(StartWatch request) {
        String sessionId = request.sessionId();
        String jobName = jobNameBySession.get(sessionId);
        recordProgress(sessionId, "info", (jobName == null ? "Job" : "Job " + jobName) + " created; waiting for its pod");
        Waiter w = new Waiter(sessionId, request);
        waiters.computeIfAbsent(sessionId, k -> new ArrayList<>()).add(w);
        long startTimeoutMs = config.kubernetes().startTimeoutSeconds() * 1000L;
        w.timer = vertx.setTimer(startTimeoutMs, t -> w.fail(new WorkerException(ErrorCode.START_FAILED,
                "the pod did not start within " + config.kubernetes().startTimeoutSeconds() + " s"
                        + view(sessionId).flatMap(SessionView::latestPod).map(p -> " (last state: " + describe(p) + ")").orElse(""))));
        evaluate(w);
        return w.done.future()
                .recover(err -> cleanUpFailedStart(sessionId).transform(x -> Future.failedFuture(err)))
                .andThen(ar -> {
                    List<Waiter> l = waiters.get(sessionId);
                    if (l != null) {
                        l.remove(w);
                        if (l.isEmpty()) {
                            waiters.remove(sessionId);
                        }
                    }
                });
    }

    private Future<Void> cleanUpFailedStart(String sessionId) {
        if (config.kubernetes().keepFailedJobs()) {
            return Future.succeededFuture();
        }
        Optional<SessionView> s = view(sessionId);
        String jobName = s.map(SessionView::jobName).orElse(null);
        if (jobName == null) {
            return Future.succeededFuture();
        }
        LOG.info("session {}: start failed, deleting Job {}", sessionId, jobName);
        return Future.fromCompletionStage(kube.deleteJobAsync(jobName), context).<Void>mapEmpty()
                .otherwise(err -> {
                    LOG.warn("session {}: could not delete Job {}: {}", sessionId, jobName, err.getMessage());
                    return null;
                });
    }

    private void sessionChanged(String sessionId) {
        List<Waiter> l = sessionId == null ? null : waiters.get(sessionId);
        if (l != null) {
            new ArrayList<>(l).forEach(this::evaluate);
        }
    }

    private void evaluate(Waiter w) {
        if (w.done.future().isComplete() || w.podReady) {
            return;
        }
        Optional<SessionView> maybe = view(w.sessionId);
        if (maybe.isEmpty()) {
            return;
        }
        SessionView s = maybe.get();
        String failure = s.failure();
        if (failure != null) {
            w.progress("error", failure);
            w.fail(new WorkerException(ErrorCode.START_FAILED, "session " + w.sessionId + " failed to start: " + failure));
            return;
        }
        Optional<Pod> pod = s.latestPod();
        if (pod.isEmpty()) {
            w.progress("info", "Waiting for the pod of Job " + s.jobName());
            return;
        }
        Pod p = pod.get();
        Optional<PodCondition> scheduled = SessionView.podCondition(p, "PodScheduled");
        if (scheduled.isPresent() && "False".equals(scheduled.get().getStatus()) && "Unschedulable".equals(scheduled.get().getReason())) {
            long waitedSeconds = (System.nanoTime() - w.startedNanos) / 1_000_000_000L;
            if (waitedSeconds >= config.kubernetes().unschedulableGraceSeconds()) {
                w.fail(new WorkerException(ErrorCode.START_FAILED, "session " + w.sessionId + " failed to start: Unschedulable: "
                        + scheduled.get().getMessage()));
                return;
            }
            w.progress("warning", "Unschedulable: " + scheduled.get().getMessage());
            vertx.setTimer(1000L * config.kubernetes().unschedulableGraceSeconds() - waitedSeconds * 1000L + 100, t -> evaluate(w));
            return;
        }
        String phase = SessionView.phase(p);
        if ("Running".equals(phase) || "Succeeded".equals(phase)) {
            w.progress("success", "Pod " + p.getMetadata().getName() + " is " + phase.toLowerCase());
            w.podReady = true;
            onPodReady(w, s);
            return;
        }
        w.progress("info", describe(p));
    }

    private static String describe(Pod p) {
        Optional<ContainerStatus> main = SessionView.mainContainer(p);
        if (main.isPresent() && main.get().getState() != null && main.get().getState().getWaiting() != null) {
            var waiting = main.get().getState().getWaiting();
            return "Container waiting: " + waiting.getReason() + (waiting.getMessage() == null ? "" : ": " + waiting.getMessage());
        }
        if (p.getSpec() != null && p.getSpec().getNodeName() != null) {
            return "Pod " + p.getMetadata().getName() + " scheduled on " + p.getSpec().getNodeName();
        }
        return "Pod " + p.getMetadata().getName() + " is " + Objects.requireNonNullElse(SessionView.phase(p), "pending").toLowerCase();
    }

    private void onPodReady(Waiter w, SessionView s) {
        vertx.cancelTimer(w.timer);
        StartWatch request = w.request;
        if (!request.waitForService()) {
            w.complete(s.toInfo());
            return;
        }
        String serviceId = request.workspace() + "/" + request.serviceId();
        long timeoutMs = request.serviceTimeoutSeconds() * 1000L;
        w.progress("info", "Waiting for service " + serviceId + " to register");
        bus.<JsonObject>request(Addresses.HYPHA, HyphaOp.AWAIT_SERVICE, new ServiceWait(serviceId, timeoutMs).toJson(), timeoutMs + 10_000)
                .onComplete(ar -> {
                    if (ar.succeeded()) {
                        w.progress("success", "Service " + serviceId + " is registered");
                        w.complete(view(w.sessionId).map(SessionView::toInfo).orElse(new JsonObject()).put("service", ar.result()));
                    } else {
                        WorkerException e = WorkerException.from(ar.cause());
                        w.fail(new WorkerException(ErrorCode.START_FAILED, "session " + w.sessionId + ": service " + serviceId
                                + " did not register within " + timeoutMs / 1000 + " s" + (e.code() == ErrorCode.TIMEOUT ? "" : ": " + e.getMessage())));
                    }
                });
    }
}
