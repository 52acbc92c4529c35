package io.hypha.k8sworker.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.CompileRequest;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.JobTypeOp;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.Launched;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.Fabric8KubeOps;
import io.hypha.k8sworker.kube.KubeOps;
import io.hypha.k8sworker.kube.SessionMeta;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;

/**
 * The launcher verticle in process, spoken to only over the event bus as the bridge speaks to it,
 * against Kubernetes' API as fabric8's mock server keeps it (objects stored, refusals on demand).
 */
@ExtendWith(VertxExtension.class)
@EnableKubernetesMockClient(crud = true)
class JobLauncherVerticleTest {

    private static final String NAMESPACE = "test";
    private static final String ADDRESS = Addresses.jobType(K8sJobType.NAME);

    static KubernetesMockServer server;
    static KubernetesClient client;

    private BusClient bus;

    @BeforeEach
    void deploy(Vertx vertx, VertxTestContext ctx) {
        WorkerConfig config = WorkerConfig.load(Path.of("conf/config.yaml"), Map.of("HYPHA_K8S_NAMESPACE", NAMESPACE));
        KubeOps kube = new Fabric8KubeOps(vertx, client, NAMESPACE, 2, 2, 8);
        bus = new BusClient(vertx);
        Future.all(JobTypes.enabled(config).stream().map(type -> vertx.deployVerticle(new JobLauncherVerticle(type, config, kube))).toList())
                .onComplete(ctx.succeedingThenComplete());
    }

    private static LaunchRequest launch(String sessionId, String token) {
        String clientId = sessionId.substring(sessionId.indexOf('/') + 1);
        return new LaunchRequest(sessionId, "my-app", "ws-a", clientId, "http://hypha", token, "ws-a/caller", null,
                Map.of("image", "python:3.11", "command", List.of("python", "-c", "print(1)")));
    }

    private static String jobName(LaunchRequest r) {
        return SessionMeta.jobName(r.sessionId(), r.clientId());
    }

    /** The session's Jobs and Secrets, found by its label. */
    private static List<Job> jobsOf(LaunchRequest r) {
        return client.batch().v1().jobs().inNamespace(NAMESPACE).withLabel(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(r.sessionId()))
                .list().getItems();
    }

    private static List<Secret> secretsOf(LaunchRequest r) {
        return client.secrets().inNamespace(NAMESPACE).withLabel(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(r.sessionId()))
                .list().getItems();
    }

    /**
     * The mock stores what it is sent but answers a strategic-merge patch (how a created Job is
     * resumed) with 415: this session's resume is answered here, and its body kept for the test.
     */
    private static AtomicReference<String> resumeOf(LaunchRequest r) {
        AtomicReference<String> body = new AtomicReference<>();
        server.expect().patch().withPath("/apis/batch/v1/namespaces/" + NAMESPACE + "/jobs/" + jobName(r))
                .andReply(200, request -> {
                    body.set(request.getBody().readUtf8());
                    return new JobBuilder().withNewMetadata().withName(jobName(r)).withNamespace(NAMESPACE).endMetadata()
                            .withNewSpec().withSuspend(false).endSpec().build();
                }).once();
        return body;
    }

    private Future<JsonObject> request(JobTypeOp op, JsonObject body) {
        return bus.request(ADDRESS, op, body);
    }

    @Test
    void compileFillsTheDefaultsAndRefusesABadFieldNamingIt(VertxTestContext ctx) {
        request(JobTypeOp.COMPILE, new CompileRequest(Map.of("image", "python:3.11"), false).toJson())
                .compose(compiled -> {
                    ctx.verify(() -> {
                        assertThat(compiled.getString("type")).isEqualTo("k8s-job");
                        assertThat(compiled.getString("restart_policy")).isEqualTo("Never");
                        assertThat(compiled.getLong("timeout")).isEqualTo(3600L);
                        assertThat(compiled.getJsonObject("resources").getJsonObject("limits").getString("memory")).isEqualTo("1Gi");
                    });
                    return request(JobTypeOp.COMPILE, new CompileRequest(Map.of("image", "python:3.11", "timeout", "soon"), false).toJson());
                })
                .onComplete(ctx.failing(err -> ctx.verify(() -> {
                    assertThat(err).isInstanceOf(WorkerException.class);
                    assertThat(((WorkerException) err).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
                    assertThat(err.getMessage()).startsWith("manifest.timeout must be a whole number");
                    ctx.completeNow();
                })));
    }

    @Test
    void launchCreatesTheJobAndItsTokenSecretWithTheSessionLabels(VertxTestContext ctx) {
        LaunchRequest r = launch("ws-a/launch-1", "caller-token");
        AtomicReference<String> resume = resumeOf(r);
        request(JobTypeOp.LAUNCH, r.toJson()).onComplete(ctx.succeeding(reply -> ctx.verify(() -> {
            Launched launched = Launched.fromJson(reply);
            assertThat(launched.jobName()).isEqualTo(jobName(r));
            assertThat(launched.manifest()).containsEntry("image", "python:3.11");
            List<Job> jobs = jobsOf(r);
            assertThat(jobs).hasSize(1);
            Job job = jobs.get(0);
            assertThat(job.getMetadata().getName()).isEqualTo(jobName(r));
            assertThat(job.getMetadata().getLabels()).containsEntry(SessionMeta.JOB_TYPE, "k8s-job")
                    .containsEntry(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE);
            assertThat(job.getMetadata().getAnnotations()).containsEntry(SessionMeta.SESSION_ID, r.sessionId());
            // created suspended, and left so: the service-watcher resumes it once it has counted the session
            assertThat(job.getSpec().getSuspend()).isTrue();
            assertThat(resume.get()).isNull();
            List<Secret> secrets = secretsOf(r);
            assertThat(secrets).hasSize(1);
            Secret secret = secrets.get(0);
            assertThat(secret.getMetadata().getName()).isEqualTo(SessionMeta.tokenSecretName(jobName(r)));
            assertThat(secret.getStringData()).containsEntry(SessionMeta.TOKEN_KEY, "caller-token");
            assertThat(secret.getMetadata().getOwnerReferences()).singleElement()
                    .satisfies(owner -> assertThat(owner.getName()).isEqualTo(jobName(r)));
            assertThat(job.toString()).doesNotContain("caller-token");
            ctx.completeNow();
        })));
    }

    @Test
    void aSecondLaunchOfTheSameSessionIsAConflict(VertxTestContext ctx) {
        LaunchRequest r = launch("ws-a/twice-1", "caller-token");
        resumeOf(r);
        request(JobTypeOp.LAUNCH, r.toJson())
                .compose(first -> request(JobTypeOp.LAUNCH, r.toJson()))
                .onComplete(ctx.failing(err -> ctx.verify(() -> {
                    assertThat(((WorkerException) err).code()).isEqualTo(ErrorCode.CONFLICT);
                    assertThat(err.getMessage()).startsWith("a session with this id already exists");
                    assertThat(jobsOf(r)).hasSize(1);
                    assertThat(secretsOf(r)).hasSize(1);
                    ctx.completeNow();
                })));
    }

    @Test
    void aRefusedTokenSecretLeavesNoJobBehind(VertxTestContext ctx) {
        LaunchRequest r = launch("ws-a/refused-1", "caller-token");
        server.expect().post().withPath("/api/v1/namespaces/" + NAMESPACE + "/secrets")
                .andReturn(403, new StatusBuilder().withCode(403).withMessage("secrets is forbidden").build()).once();
        request(JobTypeOp.LAUNCH, r.toJson()).onComplete(ctx.failing(err -> ctx.verify(() -> {
            assertThat(((WorkerException) err).code()).isEqualTo(ErrorCode.FORBIDDEN);
            assertThat(jobsOf(r)).isEmpty();
            assertThat(secretsOf(r)).isEmpty();
            ctx.completeNow();
        })));
    }

    @Test
    void aRefusedJobIsAnInvalidRequestAndCreatesNothing(VertxTestContext ctx) {
        LaunchRequest r = launch("ws-a/refused-2", "caller-token");
        server.expect().post().withPath("/apis/batch/v1/namespaces/" + NAMESPACE + "/jobs")
                .andReturn(422, new StatusBuilder().withCode(422).withMessage("spec.template: Invalid value").build()).once();
        request(JobTypeOp.LAUNCH, r.toJson()).onComplete(ctx.failing(err -> ctx.verify(() -> {
            assertThat(((WorkerException) err).code()).isEqualTo(ErrorCode.INVALID_REQUEST);
            assertThat(err.getMessage()).startsWith("Kubernetes refused the Job: spec.template: Invalid value");
            assertThat(jobsOf(r)).isEmpty();
            assertThat(secretsOf(r)).isEmpty();
            ctx.completeNow();
        })));
    }

    @Test
    void anAgentRunsItsConfiguredImageWithItsSecretWhenTheManifestNamesNeither(VertxTestContext ctx) {
        LaunchRequest r = new LaunchRequest("ws-a/agent-1", "agent-app", "ws-a", "agent-1", "http://hypha", null, "ws-a/caller", null,
                Map.of("type", "claude-agent"));
        bus.<JsonObject>request(Addresses.jobType(ClaudeAgentType.NAME), JobTypeOp.LAUNCH, r.toJson())
                .onComplete(ctx.succeeding(reply -> ctx.verify(() -> {
                    assertThat(Launched.fromJson(reply).manifest()).containsEntry("secret_name", "deno-claude-code-config")
                            .containsEntry("service_id", "claude-agents");
                    Job job = jobsOf(r).get(0);
                    var container = job.getSpec().getTemplate().getSpec().getContainers().get(0);
                    assertThat(container.getImage()).isEqualTo("oeway/deno-claude-code:0.1.2");
                    assertThat(container.getEnv()).anyMatch(e -> e.getName().equals("ANTHROPIC_API_KEY")
                            && e.getValueFrom().getSecretKeyRef().getName().equals("deno-claude-code-config"));
                    assertThat(container.getResources().getLimits().get("memory").toString()).isEqualTo("2Gi");
                    assertThat(secretsOf(r)).isEmpty();
                    ctx.completeNow();
                })));
    }
}
