package io.hypha.k8sworker.kube;

import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.UnaryOperator;

import io.fabric8.kubernetes.api.model.DeletionPropagation;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.Informable;
import io.fabric8.kubernetes.client.dsl.LogWatch;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.BasicItemStore;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;

/**
 * {@link KubeOps} on fabric8. fabric8's calls block, so each one runs on a named shared worker
 * executor of the worker's Vert.x instance (never on an event loop, nor on a worker verticle's own
 * thread: with fabric8 on the same Vert.x that deadlocks) and comes back as a {@link Future} on the
 * caller's context. Log reads have an executor of their own with a bounded backlog, so that a flood
 * of them never delays a launch.
 */
public final class Fabric8KubeOps implements KubeOps {

    /** Names of the executors, as they show in the Vert.x metrics and in thread names. */
    public static final String OPS_EXECUTOR = "k8s-ops";
    public static final String LOGS_EXECUTOR = "k8s-logs";

    private final Vertx vertx;
    private final KubernetesClient client;
    private final String namespace;
    private final WorkerExecutor ops;
    private final WorkerExecutor logs;
    /** Log reads running or waiting, at most {@link #logCapacity}: a Vert.x executor's queue has no bound of its own. */
    private final AtomicInteger logReads = new AtomicInteger();
    private final int logCapacity;

    /**
     * {@code opsThreads} for launches, deletions and informers (kubernetes.workerPoolSize);
     * {@code logThreads} for log reads, beyond which {@code logQueue} more may wait (logs.threads,
     * logs.queue) and the rest are refused.
     */
    public Fabric8KubeOps(Vertx vertx, KubernetesClient client, String namespace, int opsThreads, int logThreads, int logQueue) {
        this.vertx = vertx;
        this.client = client;
        this.namespace = namespace;
        this.ops = vertx.createSharedWorkerExecutor(OPS_EXECUTOR, opsThreads);
        this.logs = vertx.createSharedWorkerExecutor(LOGS_EXECUTOR, logThreads);
        this.logCapacity = logThreads + logQueue;
    }

    @Override
    public String namespace() {
        return namespace;
    }

    /** A blocking call on the ops executor; unordered, so that one slow call does not hold up the others. */
    private <T> Future<T> blocking(Callable<T> call) {
        return ops.executeBlocking(call, false);
    }

    /** A read on the log executor; when as many as allowed are running or waiting, a future failed with {@link RejectedExecutionException}. */
    private <T> Future<T> onLogExecutor(Callable<T> call) {
        if (logReads.incrementAndGet() > logCapacity) {
            logReads.decrementAndGet();
            return Future.failedFuture(new RejectedExecutionException("all log reads are taken"));
        }
        return logs.executeBlocking(() -> {
            try {
                return call.call();
            } finally {
                logReads.decrementAndGet();
            }
        }, false);
    }

    /** Closes the executors; the client is the caller's. */
    public Future<Void> close() {
        return Future.join(ops.close(), logs.close()).mapEmpty();
    }

    /**
     * Creates a session's Job and, when it has one, its token Secret, in an order that a worker killed
     * at any point cannot turn into a leak: the Job is created suspended (no pod runs before the
     * session is admitted, nor without its Secret), then the Secret, owned by the Job (the garbage
     * collector removes it with the Job, or at once if the Job is already gone). The service-watcher
     * resumes the Job once it has counted it against the session limits ({@link #resumeJob}); a Job
     * left suspended by a killed worker is listed as starting and removed after
     * {@code kubernetes.suspendedGraceSeconds}. A failure here deletes the Job (and so the Secret).
     */
    @Override
    public Future<Job> createSession(Job job, Secret tokenSecret) {
        return blocking(() -> {
            var jobs = client.batch().v1().jobs().inNamespace(namespace);
            Job suspended = new JobBuilder(job).editSpec().withSuspend(true).endSpec().build();
            Job created = jobs.resource(suspended).create();
            if (tokenSecret == null) {
                return created;
            }
            String name = created.getMetadata().getName();
            try {
                Secret owned = new SecretBuilder(tokenSecret).editMetadata()
                        .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("batch/v1").withKind("Job")
                                .withName(name).withUid(created.getMetadata().getUid())
                                .withBlockOwnerDeletion(false).withController(false).build())
                        .endMetadata().build();
                client.secrets().inNamespace(namespace).resource(owned).create();
                return created;
            } catch (RuntimeException e) {
                deleteQuietly(() -> deleteJobNow(name));
                throw e;
            }
        });
    }

    @Override
    public Future<Void> resumeJob(String name) {
        return blocking(() -> {
            client.batch().v1().jobs().inNamespace(namespace).withName(name)
                    .patch(PatchContext.of(PatchType.STRATEGIC_MERGE), "{\"spec\":{\"suspend\":false}}");
            return null;
        });
    }

    /**
     * Deletes a Job that is still suspended and unchanged since the caller saw it (resource version
     * as a precondition), so that a Job another worker resumed in the meantime is left alone. It has
     * no pods; fabric8's default propagation (background) lets the garbage collector take its Secret.
     */
    @Override
    public Future<Boolean> deleteSuspendedJob(String name, String resourceVersion) {
        return blocking(() -> {
            try {
                return !client.batch().v1().jobs().inNamespace(namespace).withName(name)
                        .lockResourceVersion(resourceVersion).delete().isEmpty();
            } catch (KubernetesClientException e) {
                if (e.getCode() == 409 || e.getCode() == 404) {
                    return false;
                }
                throw e;
            }
        });
    }

    @Override
    public Future<Boolean> deleteJob(String name) {
        return blocking(() -> deleteJobNow(name));
    }

    private boolean deleteJobNow(String name) {
        return !client.batch().v1().jobs().inNamespace(namespace).withName(name)
                .withPropagationPolicy(DeletionPropagation.BACKGROUND).delete().isEmpty();
    }

    /**
     * The end of one container's log: its last {@code tailLines} lines, of those the first
     * {@code limitBytes} bytes (Kubernetes counts the bytes from the first line of the tail); empty
     * when the pod or its log is gone. One request: fabric8's own log calls first wait for the pod
     * with a LIST and a watch. Runs on the log executor, which refuses it when full (a
     * {@link RejectedExecutionException}).
     */
    @Override
    public Future<String> containerLog(String pod, String container, boolean previous, int tailLines, int limitBytes) {
        return onLogExecutor(() -> {
            try {
                String log = client.raw("/api/v1/namespaces/" + namespace + "/pods/" + pod + "/log?container=" + container
                        + "&tailLines=" + tailLines + "&limitBytes=" + limitBytes + (previous ? "&previous=true" : ""));
                return log == null ? "" : log;
            } catch (KubernetesClientException e) {
                if (e.getCode() == 404 || e.getCode() == 400) {
                    return "";
                }
                throw e;
            }
        });
    }

    /**
     * Runs a command in a pod's container through pods/exec. Only opening the stream uses a log
     * thread; the command runs on the HTTP client's own I/O, so a long command holds no thread.
     * Output beyond {@code maxBytes} (stdout and stderr together) is dropped; after
     * {@code timeoutSeconds} the stream is closed and the result says it timed out.
     */
    @Override
    public Future<ExecResult> exec(String pod, String container, List<String> command, int timeoutSeconds, int maxBytes) {
        // the result comes from fabric8's threads: handed back on the caller's context
        Context caller = vertx.getOrCreateContext();
        BoundedOutput out = new BoundedOutput(maxBytes, null);
        BoundedOutput err = new BoundedOutput(maxBytes, out);
        CompletableFuture<ExecResult> done = new CompletableFuture<>();
        onLogExecutor(() -> client.pods().inNamespace(namespace).withName(pod).inContainer(container)
                .writingOutput(out).writingError(err).exec(command.toArray(String[]::new)))
                .onComplete((watch, failure) -> {
                    if (failure != null) {
                        done.completeExceptionally(failure);
                        return;
                    }
                    watch.exitCode().orTimeout(timeoutSeconds, TimeUnit.SECONDS).whenComplete((code, thrown) -> {
                        watch.close();
                        // a stage passes on its upstream's failure wrapped
                        Throwable f = thrown instanceof CompletionException && thrown.getCause() != null ? thrown.getCause() : thrown;
                        boolean timedOut = f instanceof TimeoutException;
                        if (f != null && !timedOut) {
                            done.completeExceptionally(f);
                        } else {
                            done.complete(new ExecResult(timedOut ? null : code, out.text(), err.text(), out.truncated() || err.truncated(),
                                    timedOut));
                        }
                    });
                });
        return Future.fromCompletionStage(done, caller);
    }

    /** Collects output up to a byte budget shared with a sibling stream, dropping the rest. */
    private static final class BoundedOutput extends java.io.OutputStream {
        private final java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        /** [bytes left] shared by stdout and stderr, also their lock. */
        private final int[] budget;
        private volatile boolean truncated;

        BoundedOutput(int max, BoundedOutput sibling) {
            this.budget = sibling == null ? new int[] {max} : sibling.budget;
        }

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            synchronized (budget) {
                int kept = Math.min(len, budget[0]);
                if (kept < len) {
                    truncated = true;
                }
                bytes.write(b, off, kept);
                budget[0] -= kept;
            }
        }

        boolean truncated() {
            return truncated;
        }

        String text() {
            synchronized (budget) {
                return bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
            }
        }
    }

    /**
     * Follows one container's log from its last {@code tailLines} lines as the container writes it
     * (a {@code follow=true} log request). fabric8 hands each chunk to {@code sink} and asks for the
     * next one only after the write returned, so a sink that blocks while full slows the stream down
     * instead of buffering it. The request is opened on the log executor (refused when it is full, as
     * for {@link #containerLog}); the stream then holds no thread of ours.
     */
    @Override
    public Future<LogWatch> followContainerLog(String pod, String container, int tailLines, OutputStream sink) {
        return onLogExecutor(() -> client.pods().inNamespace(namespace).withName(pod).inContainer(container)
                // the watcher saw the pod running; fabric8 would otherwise wait for readiness first
                .withReadyWaitTimeout(FOLLOW_READY_WAIT_MS)
                .tailingLines(tailLines).watchLog(sink));
    }

    private static final int FOLLOW_READY_WAIT_MS = 5_000;

    /** Blocks for the initial list, so it runs on the ops executor. */
    @Override
    public Future<Informer> informJobs(Map<String, String> labels, ResourceEventHandler<Job> handler) {
        return blocking(() -> informer(lean(client.batch().v1().jobs().inNamespace(namespace).withLabels(labels), handler,
                LeanObjects::job, Map.of())));
    }

    @Override
    public Future<Informer> informPods(Map<String, String> labels, ResourceEventHandler<Pod> handler) {
        return blocking(() -> informer(lean(client.pods().inNamespace(namespace).withLabels(labels), handler, LeanObjects::pod, Map.of())));
    }

    /** The index of the events informer's cache: the name of the object an event is about. */
    private static final String EVENTS_BY_OBJECT = "involvedObject.name";

    /** Indexed by the name of their object, so that get_logs finds a session's events in the cache instead of listing them. */
    @Override
    public Future<EventInformer> informEvents(ResourceEventHandler<Event> handler) {
        return blocking(() -> {
            SharedIndexInformer<Event> informer = lean(client.v1().events().inNamespace(namespace), handler, LeanObjects::event,
                    Map.of(EVENTS_BY_OBJECT, e -> e.getInvolvedObject() == null || e.getInvolvedObject().getName() == null ? List.of()
                            : List.of(e.getInvolvedObject().getName())));
            return new EventInformer() {
                @Override
                public List<Event> about(String objectName) {
                    return informer.getIndexer().byIndex(EVENTS_BY_OBJECT, objectName);
                }

                @Override
                public boolean isWatching() {
                    return informer.isWatching();
                }

                @Override
                public void close() {
                    informer.close();
                }
            };
        });
    }

    private static Informer informer(SharedIndexInformer<?> informer) {
        return new Informer() {
            @Override
            public boolean isWatching() {
                return informer.isWatching();
            }

            @Override
            public void close() {
                informer.close();
            }
        };
    }

    /**
     * Objects per page of an informer's list: a worker restarted among many large sessions holds one
     * page of them whole at a time, not all of them.
     */
    static final long LIST_PAGE = 50;

    /**
     * Informs like {@code inform(handler, 0)} (blocks for the initial list, read in pages), but the
     * cache and the handler get each object trimmed to what the worker reads ({@link LeanObjects}):
     * a session's manifest (env, command, args) is in its Job and pods, and kept whole in every
     * cached copy it would fill the heap.
     */
    private static <T extends HasMetadata> SharedIndexInformer<T> lean(Informable<T> source, ResourceEventHandler<? super T> handler,
                                                                       UnaryOperator<T> trim, Map<String, Function<T, List<String>>> indexers) {
        SharedIndexInformer<T> informer = source.withLimit(LIST_PAGE).runnableInformer(0);
        if (!indexers.isEmpty()) {
            informer.addIndexers(indexers);
        }
        informer.itemStore(new BasicItemStore<T>(Cache::metaNamespaceKeyFunc) {
            @Override
            public T put(String key, T obj) {
                return super.put(key, trim.apply(obj));
            }
        });
        informer.addEventHandler(handler);
        return informer.run();
    }

    @Override
    public Future<Boolean> reachable() {
        return blocking(() -> {
            try {
                client.getKubernetesVersion();
                return true;
            } catch (RuntimeException e) {
                return false;
            }
        });
    }

    private static void deleteQuietly(Runnable delete) {
        try {
            delete.run();
        } catch (RuntimeException ignored) {
            // best effort: the caller reports the original failure
        }
    }
}
