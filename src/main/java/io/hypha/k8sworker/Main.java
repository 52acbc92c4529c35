package io.hypha.k8sworker;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.vertx5.Vertx5HttpClientFactory;
import io.hypha.k8sworker.bridge.HyphaBridgeVerticle;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.health.HealthVerticle;
import io.hypha.k8sworker.kube.Fabric8KubeOps;
import io.hypha.k8sworker.launcher.JobLauncherVerticle;
import io.hypha.k8sworker.leader.LeaderVerticle;
import io.hypha.k8sworker.launcher.JobType;
import io.hypha.k8sworker.launcher.JobTypes;
import io.hypha.k8sworker.watcher.ServiceWatcherVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;

/**
 * Loads the configuration, then deploys in order: health (so probes answer), one launcher per job
 * type, the service-watcher, and the hypha-bridge last, so that the worker registers in Hypha only
 * when it can serve. SIGTERM undeploys in reverse: the bridge first (unregistering from Hypha);
 * running Jobs are left alone.
 */
public final class Main {

    private static final Logger LOG = LoggerFactory.getLogger(Main.class);

    private final WorkerConfig config;
    private final Vertx vertx;
    private final KubernetesClient kubernetes;
    private final Fabric8KubeOps kube;
    private final List<String> deployments = new ArrayList<>();

    /** {@code kubernetes} makes the Kubernetes client on the worker's Vert.x instance. */
    public Main(WorkerConfig config, Function<Vertx, KubernetesClient> kubernetes) {
        this.config = config;
        // one event loop per core the JVM may use (its container's CPU limit), not Vert.x's two per core:
        // the loops only route frames and events, blocking calls run on the executors below
        this.vertx = Vertx.builder().with(new VertxOptions().setEventLoopPoolSize(Runtime.getRuntime().availableProcessors())
                .setMetricsOptions(new MicrometerMetricsOptions().setEnabled(true).setJvmMetricsEnabled(true)
                        .setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true)))).build();
        // fabric8 would otherwise start a Vert.x instance of its own, with its own event loops and threads
        this.kubernetes = kubernetes.apply(vertx);
        // blocking Kubernetes calls on named shared worker executors of this Vert.x (they show in its
        // metrics); get_logs' reads on a bounded one of their own, so that a flood never delays a launch
        WorkerConfig.Logs logs = config.logs();
        this.kube = new Fabric8KubeOps(vertx, this.kubernetes, config.kubernetes().namespace(), config.kubernetes().workerPoolSize(),
                logs.threads(), logs.queue());
    }

    public static void main(String[] args) {
        WorkerConfig config = WorkerConfig.load(args.length > 0 ? Path.of(args[0]) : null, System.getenv());
        LOG.info("configuration: {}", config.redacted().encode());
        Main main = new Main(config, vertx -> new KubernetesClientBuilder().withHttpClientFactory(new Vertx5HttpClientFactory(vertx)).build());
        Runtime.getRuntime().addShutdownHook(new Thread(main::shutdownAndWait, "shutdown"));
        try {
            // the main thread may wait; exiting from an event loop would deadlock the shutdown hook
            main.start().toCompletionStage().toCompletableFuture().get();
        } catch (ExecutionException e) {
            LOG.error("start-up failed: {}", e.getCause().getMessage(), e.getCause());
            System.exit(1);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            System.exit(1);
        }
    }

    public Future<Void> start() {
        List<JobType> types = JobTypes.enabled(config);
        List<String> typeNames = types.stream().map(JobType::name).toList();
        WorkerConfig.Verticles v = config.verticles();
        Future<Void> chain = deploy("health", () -> new HealthVerticle(config.health().host(), config.health().port(), typeNames), 1);
        for (JobType type : types) {
            chain = chain.compose(x -> deploy("job-launcher[" + type.name() + "]", () -> new JobLauncherVerticle(type, config, kube),
                    v.jobLauncher()));
        }
        return chain
                // before those that follow its leadership
                .compose(x -> deploy("leader", () -> new LeaderVerticle(config.replicas(), kubernetes, config.kubernetes().namespace(),
                        replicaIdentity()), 1))
                .compose(x -> deploy("service-watcher", () -> new ServiceWatcherVerticle(config, kube), v.serviceWatcher()))
                .compose(x -> deploy("hypha-bridge", () -> new HyphaBridgeVerticle(config, typeNames), v.hyphaBridge()))
                .onSuccess(x -> LOG.info("worker ready: service {} for job types {} in namespace {}", config.hypha().serviceId(),
                        typeNames, config.kubernetes().namespace()));
    }

    /** This replica's name in the Lease: its pod's name in a cluster, else the host and process. */
    private static String replicaIdentity() {
        String pod = System.getenv("POD_NAME");
        if (pod != null && !pod.isBlank()) {
            return pod;
        }
        String host = System.getenv("HOSTNAME");
        return (host == null || host.isBlank() ? "worker" : host) + "-" + ProcessHandle.current().pid();
    }

    private Future<Void> deploy(String name, java.util.function.Supplier<io.vertx.core.Deployable> factory, int instances) {
        return vertx.deployVerticle(factory, new DeploymentOptions().setInstances(instances))
                .onSuccess(id -> {
                    deployments.add(id);
                    LOG.info("deployed {} ({} instance{})", name, instances, instances == 1 ? "" : "s");
                })
                .mapEmpty();
    }

    /** Undeploys newest first (the bridge), then closes the Kubernetes client and Vert.x, which it runs on. */
    public Future<Void> shutdown() {
        Future<Void> chain = Future.succeededFuture();
        for (int i = deployments.size() - 1; i >= 0; i--) {
            String id = deployments.get(i);
            chain = chain.compose(x -> vertx.undeploy(id).otherwiseEmpty());
        }
        return chain.eventually(() -> {
            kube.close();
            kubernetes.close();
            return vertx.close();
        });
    }

    private void shutdownAndWait() {
        LOG.info("shutting down: leaving Hypha, keeping running Jobs");
        CountDownLatch done = new CountDownLatch(1);
        shutdown().onComplete(ar -> done.countDown());
        try {
            done.await(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public Vertx vertx() {
        return vertx;
    }
}
