package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReviewBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The Helm chart's RBAC is what the worker needs: the worker runs with nothing but the token of
 * the chart's ServiceAccount, bound by the chart's Role, serves a whole session from Python, and
 * that token can do nothing beyond it.
 */
@Tag("k8s")
@Tag("hypha")
class ChartRbacTest {

    private static final String RELEASE = "hypha-k8s-worker";
    private static final Path CHART = HyphaTestServer.projectDir().resolve("helm/hypha-k8s-worker");

    @RegisterExtension
    static final KubeCluster cluster = new KubeCluster();

    static Path helm;

    @BeforeAll
    static void findHelm() {
        String cacheDir = System.getenv("HYPHA_K8S_CACHE_DIR");
        Path base = cacheDir != null && !cacheDir.isBlank() ? Path.of(cacheDir)
                : Path.of(System.getProperty("user.home"), ".cache", "hypha-k8s-worker");
        helm = base.resolve("tools/bin/helm");
        if (!Files.isExecutable(helm)) {
            throw new AssertionError("helm is not at " + helm + ": build it with scripts/helm-tools.sh");
        }
    }

    @Test
    void theWorkerServesASessionWithOnlyTheChartsServiceAccountAndCanDoNothingElse() throws Exception {
        String ns = cluster.namespace();
        KubernetesClient admin = cluster.client();
        List<HasMetadata> rendered = admin.load(new ByteArrayInputStream(
                helmTemplate(ns, "--set", "kubernetes.namespace=" + ns).getBytes(StandardCharsets.UTF_8))).items();

        ServiceAccount sa = only(rendered, ServiceAccount.class);
        Role role = only(rendered, Role.class);
        RoleBinding binding = only(rendered, RoleBinding.class);
        assertThat(role.getRules()).extracting(ChartRbacTest::rule).containsExactly(
                "batch/jobs: create,get,list,watch,delete,patch",
                "/secrets: create",
                "/pods: get,list,watch",
                "/pods/log: get",
                "/pods/exec: create",
                "/events: list,watch");
        for (HasMetadata object : List.of(sa, role, binding)) {
            assertThat(object.getMetadata().getNamespace()).isEqualTo(ns);
            admin.resource(object).inNamespace(ns).create();
        }

        String token = admin.serviceAccounts().inNamespace(ns).withName(sa.getMetadata().getName())
                .tokenRequest(new TokenRequestBuilder().withNewSpec().withExpirationSeconds(3600L).endSpec().build())
                .getStatus().getToken();
        assertThat(token).isNotBlank();

        try (KubernetesClient asWorker = KubeCluster.clientWithToken(token, ns)) {
            // the RBAC authorizer learns of new bindings through a watch
            KubeCluster.await("the RoleBinding to take effect", Duration.ofSeconds(30),
                    () -> asWorker.batch().v1().jobs().inNamespace(ns).list());

            HyphaTestServer hypha = HyphaTestServer.shared();
            String serviceId = "k8s-worker-chart-" + UUID.randomUUID().toString().substring(0, 8);
            Path kubeconfig = writeKubeconfig(token, ns);
            try (WorkerProcess worker = new WorkerProcess(Map.of(
                    "HYPHA_SERVER_URL", hypha.url(),
                    "HYPHA_TOKEN", hypha.userToken(),
                    "HYPHA_K8S_NAMESPACE", ns,
                    "HYPHA_SERVICE_ID", serviceId,
                    "HYPHA_K8S_WORKER_VERTICLES_JOB_LAUNCHER_INSTANCES", "3",
                    "HYPHA_K8S_WORKER_KUBERNETES_START_TIMEOUT_SECONDS", "90",
                    "KUBECONFIG", kubeconfig.toString())).start();
                    PythonPeer py = hypha.python(Map.of("token", hypha.userToken(),
                            "client_id", "py-chart-" + UUID.randomUUID().toString().substring(0, 8)))) {
                assertThat(worker.logText()).contains("job-launcher[k8s-job] (3 instances)");

                String ws = py.workspace();
                py.exec("state['w'] = await server.get_service('%s/%s')".formatted(ws, serviceId));
                String session = (String) py.exec("""
                        return await state['w'].start({"manifest": {"type": "k8s-job", "image": "busybox:1.36",
                                                                     "command": ["sh", "-c", "echo hello; sleep 600"]},
                                                        "token": "a-session-token"})
                        """, Duration.ofSeconds(120));
                assertThat(session).startsWith(ws + "/");
                // the Role covers the launch with a token: a suspended Job, its Secret owned by it, the Job resumed
                var job = admin.batch().v1().jobs().inNamespace(ns).withLabel(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(session))
                        .list().getItems().get(0);
                assertThat(job.getSpec().getSuspend()).isFalse();
                assertThat(admin.secrets().inNamespace(ns).withName(SessionMeta.tokenSecretName(job.getMetadata().getName())).get()
                        .getMetadata().getOwnerReferences()).singleElement()
                        .satisfies(o -> assertThat(o.getUid()).isEqualTo(job.getMetadata().getUid()));

                JsonArray sessions = (JsonArray) py.exec("return await state['w'].list_sessions()");
                assertThat(sessions.stream().map(s -> ((JsonObject) s).getString("session_id"))).contains(session);

                String pod = KubeCluster.await("the session's pod", Duration.ofSeconds(30), () -> admin.pods().inNamespace(ns)
                        .withLabel(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(session)).list().getItems().stream()
                        .map(p -> p.getMetadata().getName()).findFirst().orElse(null));
                cluster.setPodLog(pod, "hello from the chart's RBAC");
                Await.until("the session's log through get_logs", Duration.ofSeconds(60), () -> {
                    JsonObject logs = (JsonObject) py.exec("return await state['w'].get_logs('%s')".formatted(session));
                    return logs.getJsonArray("items").stream().map(i -> ((JsonObject) i).getString("content"))
                            .anyMatch("hello from the chart's RBAC"::equals);
                });

                py.exec("await state['w'].stop('%s')".formatted(session));
                Await.until("the stopped session's Job to go", Duration.ofSeconds(60), () -> admin.batch().v1().jobs()
                        .inNamespace(ns).list().getItems().stream()
                        .noneMatch(j -> session.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))));
                assertThat((JsonArray) py.exec("return await state['w'].list_sessions()")).isEmpty();

                // every call the worker made was allowed
                assertThat(worker.logText()).doesNotContain("Forbidden").doesNotContain("forbidden");
            }

            Deployment deployment = new DeploymentBuilder()
                    .withNewMetadata().withName("not-allowed").endMetadata()
                    .withNewSpec()
                    .withNewSelector().addToMatchLabels("app", "x").endSelector()
                    .withNewTemplate().withNewMetadata().addToLabels("app", "x").endMetadata()
                    .withNewSpec().addNewContainer().withName("main").withImage("busybox:1.36").endContainer().endSpec()
                    .endTemplate()
                    .endSpec()
                    .build();
            assertForbidden(() -> asWorker.apps().deployments().inNamespace(ns).resource(deployment).create());

            // execute's pods/exec: in the Jobs' namespace only
            assertThat(mayExec(asWorker, ns)).isTrue();

            String other = cluster.createNamespace("chart-other", Map.of("hypha.io/test", "true"));
            admin.secrets().inNamespace(other).resource(new SecretBuilder().withNewMetadata().withName("not-yours")
                    .endMetadata().addToStringData("k", "v").build()).create();
            assertForbidden(() -> asWorker.secrets().inNamespace(other).withName("not-yours").get());
            assertForbidden(() -> asWorker.secrets().inNamespace(other).list());
            assertThat(mayExec(asWorker, other)).isFalse();
        }
    }

    /** What the API server answers the worker's account about pods/exec create in a namespace. */
    private static boolean mayExec(KubernetesClient client, String namespace) {
        SelfSubjectAccessReview review = new SelfSubjectAccessReviewBuilder().withNewSpec().withNewResourceAttributes()
                .withNamespace(namespace).withVerb("create").withResource("pods").withSubresource("exec")
                .endResourceAttributes().endSpec().build();
        return client.authorization().v1().selfSubjectAccessReview().create(review).getStatus().getAllowed();
    }

    @Test
    void jobLauncherInstancesReachTheWorkersConfig() throws Exception {
        String yaml = helmTemplate("hypha", "--set", "verticles.jobLauncher.instances=5");
        ConfigMap configMap = only(cluster.client().load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)))
                .items(), ConfigMap.class);
        Map<String, Object> config = new Yaml(new SafeConstructor(new LoaderOptions()))
                .load(configMap.getData().get("config.yaml"));
        assertThat(path(config, "verticles", "jobLauncher", "instances")).isEqualTo(5);
        assertThat(path(config, "verticles", "hyphaBridge", "instances")).isEqualTo(1);
        assertThat(path(config, "kubernetes", "namespace")).isEqualTo("hypha");
    }

    @Test
    void theRenderedConfigYamlIsOneTheWorkerLoadsAndEnvironmentOverridesStillApply(@TempDir Path dir) throws Exception {
        String yaml = helmTemplate("hypha", "--set", "hypha.visibility=public");
        ConfigMap configMap = only(cluster.client().load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)))
                .items(), ConfigMap.class);
        Path file = dir.resolve("config.yaml");
        Files.writeString(file, configMap.getData().get("config.yaml"));

        WorkerConfig config = WorkerConfig.load(file, Map.of("HYPHA_TOKEN", "from-the-secret",
                "HYPHA_K8S_WORKER_VERTICLES_JOB_LAUNCHER_INSTANCES", "4"));
        assertThat(config.hypha().serverUrl()).isEqualTo("http://hypha-server.hypha.svc.cluster.local:9520");
        assertThat(config.hypha().workspace()).isEqualTo("hypha-agents");
        assertThat(config.hypha().serviceId()).isEqualTo("k8s-worker");
        assertThat(config.hypha().visibility()).isEqualTo("public");
        assertThat(config.hypha().token()).isEqualTo("from-the-secret");
        assertThat(config.kubernetes().namespace()).isEqualTo("hypha");
        assertThat(config.kubernetes().defaultTimeout()).isEqualTo(3600);
        assertThat(config.kubernetes().imagePullPolicy()).isEqualTo("IfNotPresent");
        assertThat(config.verticles().jobLauncher()).isEqualTo(4);
        assertThat(config.health().port()).isEqualTo(8080);
        assertThat(config.health().host()).isEqualTo("0.0.0.0");
        assertThat(config.jobType("claude-agent").image()).isEqualTo("oeway/deno-claude-code:0.1.2");
        assertThat(config.jobTypeEnabled("conda-worker")).isTrue();
    }

    @Test
    void aPolicySetInHelmValuesIsTheWorkersPolicy(@TempDir Path dir) throws Exception {
        String yaml = helmTemplate("hypha", "--set", "policy.allowedImages[0]=ghcr.io/acme/**",
                "--set", "policy.resources.maxGpus=2", "--set", "policy.allowTolerations=true",
                "--set", "policy.allowedSecretNames[0]=agent-keys", "--set", "policy.maxSessionsPerWorkspace=3");
        ConfigMap configMap = only(cluster.client().load(new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)))
                .items(), ConfigMap.class);
        Path file = dir.resolve("config.yaml");
        Files.writeString(file, configMap.getData().get("config.yaml"));

        WorkerConfig.Policy policy = WorkerConfig.load(file, Map.of("HYPHA_TOKEN", "t",
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_TOTAL", "7")).policy();
        assertThat(policy.allowedImages()).containsExactly("ghcr.io/acme/**");
        assertThat(policy.maxGpus()).isEqualTo(2);
        assertThat(policy.allowTolerations()).isTrue();
        assertThat(policy.allowedSecretNames()).containsExactly("agent-keys");
        assertThat(policy.maxSessionsPerWorkspace()).isEqualTo(3);
        assertThat(policy.maxSessionsTotal()).isEqualTo(7);
        // untouched values keep the chart's safe defaults
        assertThat(policy.allowedServiceAccounts()).isEmpty();
        assertThat(policy.defaultLimits()).containsEntry("memory", "1Gi");
    }

    private static void assertForbidden(Runnable call) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(KubernetesClientException.class,
                e -> assertThat(e.getCode()).isEqualTo(403));
    }

    private static String rule(PolicyRule r) {
        return String.join(",", r.getApiGroups()) + "/" + String.join(",", r.getResources()) + ": "
                + String.join(",", r.getVerbs());
    }

    private static <T extends HasMetadata> T only(List<HasMetadata> objects, Class<T> kind) {
        List<T> found = objects.stream().filter(kind::isInstance).map(kind::cast).toList();
        assertThat(found).as("rendered %s objects", kind.getSimpleName()).hasSize(1);
        return found.get(0);
    }

    @SuppressWarnings("unchecked")
    private static Object path(Map<String, Object> tree, String... keys) {
        Object node = tree;
        for (String key : keys) {
            node = ((Map<String, Object>) node).get(key);
        }
        return node;
    }

    /** {@code helm template} of the chart as release hypha-k8s-worker in the namespace. */
    private static String helmTemplate(String namespace, String... flags) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(helm.toString(), "template", RELEASE, CHART.toString(), "-n", namespace));
        cmd.addAll(List.of(flags));
        Path err = Files.createTempFile("helm-template-", ".err");
        try {
            Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("helm template did not finish: " + cmd);
            }
            if (p.exitValue() != 0) {
                throw new AssertionError(cmd + " failed (" + p.exitValue() + "):\n" + Files.readString(err));
            }
            return out;
        } finally {
            Files.deleteIfExists(err);
        }
    }

    /** A kubeconfig with the admin kubeconfig's server and CA, and this token as the only credential. */
    @SuppressWarnings("unchecked")
    private static Path writeKubeconfig(String token, String namespace) throws IOException {
        Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
        Map<String, Object> admin = yaml.load(Files.readString(KubeCluster.kubeconfigPath()));
        Map<String, Object> server = (Map<String, Object>) ((Map<String, Object>) ((List<Object>) admin.get("clusters"))
                .get(0)).get("cluster");
        Map<String, Object> config = Map.of(
                "apiVersion", "v1",
                "kind", "Config",
                "clusters", List.of(Map.of("name", "local", "cluster", server)),
                "users", List.of(Map.of("name", "worker", "user", Map.of("token", token))),
                "contexts", List.of(Map.of("name", "worker", "context",
                        Map.of("cluster", "local", "user", "worker", "namespace", namespace))),
                "current-context", "worker");
        Path dir = HyphaTestServer.projectDir().resolve("target/chart-rbac");
        Files.createDirectories(dir);
        Path file = dir.resolve("kubeconfig-" + namespace + ".yaml");
        Files.writeString(file, yaml.dump(config));
        return file;
    }
}
