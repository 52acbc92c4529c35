package io.hypha.k8sworker.launcher;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.CompileRequest;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.Health;
import io.hypha.k8sworker.bus.HealthOp;
import io.hypha.k8sworker.bus.JobTypeOp;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.Launched;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.KubeOps;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.k8sworker.ports.WebPorts;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;

/**
 * The handler of one job type, on its own address ({@link Addresses#jobType}): validates manifests
 * ({@code compile}) and creates the Kubernetes objects of new sessions ({@code launch}). Stateless,
 * so it scales with verticle instances.
 */
public final class JobLauncherVerticle extends VerticleBase {

    private static final Logger LOG = LoggerFactory.getLogger(JobLauncherVerticle.class);

    private final JobType type;
    private final JobFactory factory;
    private final KubeOps kube;
    private MessageConsumer<JsonObject> consumer;

    public JobLauncherVerticle(JobType type, WorkerConfig config, KubeOps kube) {
        this.type = type;
        this.factory = new JobFactory(config);
        this.kube = kube;
    }

    @Override
    public Future<?> start() {
        consumer = vertx.eventBus().consumer(Addresses.jobType(type.name()), new OperationHandlers()
                .on(JobTypeOp.COMPILE, body -> {
                    CompileRequest request = CompileRequest.fromJson(body);
                    return Future.succeededFuture(new JsonObject(type.compile(request.manifest(), request.fromAppController()).toMap()));
                })
                .on(JobTypeOp.LAUNCH, body -> launch(LaunchRequest.fromJson(body)))
                // ready as soon as it answers: it needs nothing but its own address
                .on(HealthOp.CHECK, body -> Health.answer(true, null)));
        return consumer.completion();
    }

    @Override
    public Future<?> stop() {
        return consumer.unregister();
    }

    private Future<JsonObject> launch(LaunchRequest request) {
        CompiledManifest compiled = type.compile(request.manifest(), request.fromAppController());
        JobPlan plan = type.plan(compiled, request);
        String jobName = SessionMeta.jobName(request.sessionId(), request.clientId());
        Job job = factory.job(request, type.name(), plan, jobName);
        WebPorts.annotate(job, compiled.toMap().get("ports"), request.sessionId());
        Secret secret = request.token() == null ? null : factory.tokenSecret(request, type.name(), jobName);
        LOG.info("session {}: creating Job {} ({}) for {}", request.sessionId(), jobName, type.name(), request.caller());
        return kube.createSession(job, secret)
                .recover(err -> Future.failedFuture(translate(err, jobName)))
                .map(created -> new Launched(jobName, request.sessionId(), plan.waitForService(), plan.serviceId(),
                        plan.serviceTimeoutSeconds(), compiled.toMap()).toJson());
    }

    private static Throwable translate(Throwable err, String jobName) {
        Throwable cause = err instanceof java.util.concurrent.CompletionException && err.getCause() != null ? err.getCause() : err;
        if (cause instanceof KubernetesClientException k) {
            if (k.getCode() == 409) {
                return new WorkerException(ErrorCode.CONFLICT, "a session with this id already exists (Job " + jobName + ")");
            }
            if (k.getCode() == 422 || k.getCode() == 400) {
                return WorkerException.invalid("Kubernetes refused the Job: " + reason(k));
            }
            if (k.getCode() == 403) {
                return new WorkerException(ErrorCode.FORBIDDEN, "the worker may not create Jobs here: " + reason(k));
            }
            return new WorkerException(ErrorCode.UNAVAILABLE, "the Kubernetes API failed: " + reason(k));
        }
        return cause;
    }

    private static String reason(KubernetesClientException k) {
        return k.getStatus() != null && k.getStatus().getMessage() != null ? k.getStatus().getMessage() : k.getMessage();
    }
}
