package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonObject;

/**
 * The worker deployed the user's way (namespace hypha, secret hypha-secrets, ./deploy-worker.sh with
 * the image built from the Dockerfile) onto the real node of the local cluster, where its Jobs run
 * real containers; driven from the real Python client through the real Hypha server, which pods reach
 * at the node's bridge address. Needs scripts/k8s-cluster.sh start (with its real node) and
 * scripts/images.sh build (the worker's image).
 */
@Tag("hypha")
@Tag("k8s")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RealNodeTest {

    static final String NAMESPACE = "hypha";
    static final String RELEASE = "hypha-k8s-worker";
    static final String REAL_NODE = "hypha-real-node";
    static final String WORKER_SELECTOR = "app.kubernetes.io/name=hypha-k8s-worker";

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static PythonPeer py;
    static String ws;
    static String serviceId;
    static Path values;
    static boolean createdNamespace;

    @BeforeAll
    static void deploy() throws Exception {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        String bridgeUrl = hypha.bridgeUrl();
        ws = hypha.userWorkspace();
        serviceId = "k8s-worker-real-" + Long.toString(System.nanoTime(), 36);

        // the README's Quick Start: the namespace, then the secret with the worker's Hypha token
        Await.until("namespace " + NAMESPACE + " left by an earlier run to finish terminating", Duration.ofSeconds(120), () -> {
            var ns = kube.namespaces().withName(NAMESPACE).get();
            return ns == null || ns.getMetadata().getDeletionTimestamp() == null;
        });
        if (kube.namespaces().withName(NAMESPACE).get() == null) {
            kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NAMESPACE).endMetadata().build()).create();
            createdNamespace = true;
        }
        kube.secrets().inNamespace(NAMESPACE).resource(new SecretBuilder().withNewMetadata().withName("hypha-secrets").endMetadata()
                .addToStringData("HYPHA_AGENTS_TOKEN", hypha.userToken()).build()).serverSideApply();
        // claude-agent's Secret: the stand-in needs no real API key
        kube.secrets().inNamespace(NAMESPACE).resource(new SecretBuilder().withNewMetadata().withName("deno-claude-code-config")
                .endMetadata().addToStringData("ANTHROPIC_API_KEY", "not-used-by-the-stand-in")
                .addToStringData("HYPHA_TOKEN", "").build()).serverSideApply();

        values = Files.createTempFile("real-node-values", ".yaml");
        Files.writeString(values, """
                image:
                  repository: localhost/hypha-k8s-worker
                  tag: local
                  pullPolicy: Never
                hypha:
                  serverUrl: "%s"
                  workspace: "%s"
                  serviceId: "%s"
                kubernetes:
                  startTimeoutSeconds: 90
                  # the operator puts every session on the real node, whatever the caller asks
                  jobNodeSelector: {hypha.test/node: real}
                  jobTolerations: [{key: hypha.test/node, operator: Equal, value: real, effect: NoSchedule}]
                jobTypes:
                  claude-agent:
                    # a STAND-IN for the agent image, which cannot be pulled here (scripts/images.sh)
                    image: localhost/hypha-test/claude-agent-standin:1
                    imagePullPolicy: Never
                    cpuRequest: 50m
                    memoryRequest: 64Mi
                    cpuLimit: "1"
                    memoryLimit: 256Mi
                policy:
                  resources:
                    defaultRequests: {cpu: 50m, memory: 64Mi}
                    defaultLimits: {cpu: "1", memory: 256Mi}
                # no kube-proxy and no cluster DNS here: the API server is reached at the bridge address
                extraEnv:
                  - {name: KUBERNETES_SERVICE_HOST, value: "%s"}
                  - {name: KUBERNETES_SERVICE_PORT, value: "6443"}
                nodeSelector: {hypha.test/node: real}
                tolerations: [{key: hypha.test/node, operator: Equal, value: real, effect: NoSchedule}]
                resources:
                  requests: {cpu: 100m, memory: 256Mi}
                """.formatted(bridgeUrl, ws, serviceId, java.net.URI.create(bridgeUrl).getHost()));
        String out = run(List.of("./deploy-worker.sh", "-f", values.toString()), Duration.ofMinutes(6));
        assertThat(out).contains("Deploying " + RELEASE);

        py = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-real-" + Long.toString(System.nanoTime(), 36)));
        py.exec("state['w'] = await server.get_service('%s/%s')".formatted(ws, serviceId), Duration.ofSeconds(60));
    }

    @AfterAll
    static void undeploy() throws Exception {
        if (py != null) {
            py.close();
        }
        if (kube != null) {
            try {
                run(List.of(helm(), "uninstall", RELEASE, "-n", NAMESPACE, "--wait"), Duration.ofMinutes(2));
            } catch (AssertionError e) {
                // nothing was installed
            }
            kube.batch().v1().jobs().inNamespace(NAMESPACE).withLabel(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE).delete();
            // session pods that ignore SIGTERM would hold the namespace for their whole grace period
            kube.pods().inNamespace(NAMESPACE).withLabel(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE).withGracePeriod(0).delete();
            if (createdNamespace) {
                kube.namespaces().withName(NAMESPACE).delete();
                // the README's namespace is used next by others (scripts/chart-test.sh): leave it gone, not terminating
                Await.until("namespace " + NAMESPACE + " to be gone", Duration.ofSeconds(120),
                        () -> kube.namespaces().withName(NAMESPACE).get() == null);
            }
        }
        if (values != null) {
            Files.deleteIfExists(values);
        }
    }

    private static Pod workerPod() {
        return kube.pods().inNamespace(NAMESPACE).withLabel("app.kubernetes.io/name", "hypha-k8s-worker").list().getItems().stream()
                .filter(p -> p.getMetadata().getDeletionTimestamp() == null).findFirst().orElseThrow();
    }

    private static Job jobOf(String sessionId) {
        return kube.batch().v1().jobs().inNamespace(NAMESPACE).list().getItems().stream()
                .filter(j -> sessionId.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID)))
                .findFirst().orElse(null);
    }

    @Test
    @Order(1)
    void theWorkerRunsInClusterOnTheRealNodeFromTheDockerfilesImageAsUid10001WithAReadOnlyRoot() throws Exception {
        Pod pod = workerPod();
        assertThat(pod.getSpec().getNodeName()).isEqualTo(REAL_NODE);
        assertThat(pod.getStatus().getConditions()).anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals("True"));
        String id = run(List.of(kubectl(), "exec", "-n", NAMESPACE, pod.getMetadata().getName(), "--", "id", "-u"), Duration.ofSeconds(30));
        assertThat(id.trim()).isEqualTo("10001");
        String write = run(List.of(kubectl(), "exec", "-n", NAMESPACE, pod.getMetadata().getName(), "--", "sh", "-c",
                "touch /app/x 2>&1 || echo refused"), Duration.ofSeconds(30));
        assertThat(write).contains("Read-only file system").contains("refused");
        // the README's Troubleshooting command shows the real worker's log
        String logs = run(List.of(kubectl(), "logs", "-n", NAMESPACE, "-l", WORKER_SELECTOR), Duration.ofSeconds(30));
        assertThat(logs).contains(serviceId);
    }

    @Test
    @Order(2)
    void theReadmeK8sJobExamplePrintsHelloFromARealContainer() throws Exception {
        JsonObject out = (JsonObject) py.exec("""
                session = await state['w'].start({
                    "manifest": {
                        "type": "k8s-job",
                        "image": "python:3.11",
                        "command": ["python", "-c", "print('Hello from K8s Job!')"],
                    }
                })
                for _ in range(120):
                    info = await state['w'].get_session_info(session)
                    if info["status"] in ("completed", "failed"):
                        break
                    await asyncio.sleep(0.5)
                logs = await state['w'].get_logs(session)
                return {"session": session, "info": info, "logs": [i["content"] for i in logs["items"]]}
                """, Duration.ofSeconds(120));
        assertThat(out.getJsonObject("info").getString("status")).isEqualTo("completed");
        assertThat(out.getJsonArray("logs").encode()).contains("Hello from K8s Job!");
        String podName = out.getJsonObject("info").getString("pod_name");
        Pod pod = kube.pods().inNamespace(NAMESPACE).withName(podName).get();
        assertThat(pod.getSpec().getNodeName()).isEqualTo(REAL_NODE);
        String kubectlLogs = run(List.of(kubectl(), "logs", "-n", NAMESPACE, podName), Duration.ofSeconds(30));
        assertThat(kubectlLogs).contains("Hello from K8s Job!");
    }

    @Test
    @Order(3)
    void theReadmeClaudeAgentExampleRegistersItsServiceFromARealPodWithThePerSessionToken() {
        String agentService = "my-agent-" + Long.toString(System.nanoTime(), 36);
        JsonObject out = (JsonObject) py.exec("""
                token = await server.generate_token({"workspace": "%2$s", "expires_in": 3600})
                session = await state['w'].start({
                    "manifest": {"type": "claude-agent", "service_id": "%1$s", "wait_for_service": True,
                                 "secret_name": "deno-claude-code-config"},
                    "token": token,
                })
                agent = await server.get_service("%2$s/%1$s")
                return {"session": session, "hello": await agent.hello("test"), "env": await agent.environment()}
                """.formatted(agentService, ws), Duration.ofSeconds(150));
        String session = out.getString("session");
        assertThat(out.getString("hello")).startsWith("Hello test from the claude-agent stand-in in pod");
        assertThat(out.getJsonObject("env").getString("workspace")).isEqualTo(ws);
        assertThat(out.getJsonObject("env").getString("service_id")).isEqualTo(agentService);
        assertThat(out.getJsonObject("env").getInteger("uid")).isEqualTo(1000);
        Job job = jobOf(session);
        assertThat(job).isNotNull();
        String jobName = job.getMetadata().getName();
        assertThat(kube.secrets().inNamespace(NAMESPACE).withName(SessionMeta.tokenSecretName(jobName)).get()).isNotNull();
        List<Pod> pods = kube.pods().inNamespace(NAMESPACE).withLabel("job-name", jobName).list().getItems();
        assertThat(pods).singleElement().satisfies(p -> assertThat(p.getSpec().getNodeName()).isEqualTo(REAL_NODE));

        py.exec("await state['w'].stop('%s')".formatted(session), Duration.ofSeconds(60));
        Await.until("the agent's Job, pod and Secret to be gone", Duration.ofSeconds(90), () -> jobOf(session) == null
                && kube.pods().inNamespace(NAMESPACE).withLabel("job-name", jobName).list().getItems().isEmpty()
                && kube.secrets().inNamespace(NAMESPACE).withName(SessionMeta.tokenSecretName(jobName)).get() == null);
    }

    @Test
    @Order(4)
    void realFailuresAreReportedWithKubernetesReasons() {
        // start returns once the pod runs (or fails if it never does); a container that fails later
        // turns the session "failed" with Kubernetes' reason as soon as the kubelet reports it
        JsonObject out = (JsonObject) py.exec("""
                out = {}
                cases = {
                    "oom": {"image": "python:3.11", "command": ["python", "-c", "x = bytearray(300 * 1024 * 1024); print(len(x))"],
                            "resources": {"limits": {"memory": "64Mi"}}},
                    "exit": {"image": "python:3.11", "command": ["python", "-c", "import sys; sys.exit(3)"]},
                    "crashloop": {"image": "python:3.11", "command": ["python", "-c", "import sys; sys.exit(1)"],
                                  "restart_policy": "OnFailure", "backoff_limit": 6},
                    "missing": {"image": "localhost/hypha-test/no-such-image:1"},
                }
                for name, manifest in cases.items():
                    try:
                        session = await state['w'].start({"manifest": manifest})
                    except Exception as e:
                        out[name] = {"from": "start", "error": str(e)}
                        continue
                    for _ in range(240):
                        info = await state['w'].get_session_info(session)
                        if info["status"] in ("failed", "completed"):
                            break
                        await asyncio.sleep(0.25)
                    out[name] = {"from": "session", "status": info["status"], "error": info.get("error")}
                    await state['w'].stop(session)
                return out
                """, Duration.ofSeconds(300));
        assertThat(out.getJsonObject("oom").getString("status")).isEqualTo("failed");
        assertThat(out.getJsonObject("oom").getString("error")).contains("exited with code 137").contains("OOMKilled");
        assertThat(out.getJsonObject("exit").getString("error")).contains("exited with code 3");
        assertThat(out.getJsonObject("crashloop").getString("status")).isEqualTo("failed");
        assertThat(out.getJsonObject("crashloop").getString("error")).startsWith("CrashLoopBackOff").contains("exited with code 1");
        assertThat(out.getJsonObject("missing").getString("from")).isEqualTo("start");
        assertThat(out.getJsonObject("missing").getString("error")).contains("ErrImagePull").contains("no-such-image");
        for (String key : out.fieldNames()) {
            assertThat(out.getJsonObject(key).getString("error")).doesNotContain("Session not found", "Method not found", "Peer");
        }
    }

    @Test
    @Order(5)
    void aReferenceTheRuntimeRefusesIsRefusedByCompileFirstNamingTheField() throws Exception {
        // the runtime's verdict on the reference, from a pod made without the worker
        String pod = "invalid-image-" + Long.toString(System.nanoTime(), 36);
        kube.pods().inNamespace(NAMESPACE).resource(new io.fabric8.kubernetes.api.model.PodBuilder().withNewMetadata().withName(pod)
                .endMetadata().withNewSpec().withRestartPolicy("Never").withNodeSelector(Map.of("hypha.test/node", "real"))
                .addNewToleration().withKey("hypha.test/node").withOperator("Exists").endToleration()
                .addNewContainer().withName("main").withImage("Python:3.11").endContainer().endSpec().build()).create();
        try {
            Await.until("the kubelet to refuse the image reference", Duration.ofSeconds(60), () -> {
                Pod p = kube.pods().inNamespace(NAMESPACE).withName(pod).get();
                return p.getStatus().getContainerStatuses() != null && p.getStatus().getContainerStatuses().stream()
                        .anyMatch(c -> c.getState().getWaiting() != null && "InvalidImageName".equals(c.getState().getWaiting().getReason()));
            });
        } finally {
            kube.pods().inNamespace(NAMESPACE).withName(pod).delete();
        }
        // the worker refuses it before anything is created
        Object error = py.exec("""
                try:
                    await state['w'].compile({"type": "k8s-job", "image": "Python:3.11"}, [])
                    return None
                except Exception as e:
                    return str(e)
                """, Duration.ofSeconds(30));
        assertThat((String) error).contains("manifest.image is not a valid image reference: 'Python:3.11'");
    }

    @Test
    @Order(6)
    void theWorkerPodDeletedWhileSessionsRunComesBackAndReportsThemAll() throws Exception {
        JsonObject started = (JsonObject) py.exec("""
                sessions = []
                for i in range(2):
                    sessions.append(await state['w'].start({"manifest": {"type": "k8s-job", "image": "python:3.11",
                        "command": ["python", "-c", "import time; print('up', flush=True); time.sleep(600)"]}}))
                return {"sessions": sessions}
                """, Duration.ofSeconds(120));
        List<String> sessions = started.getJsonArray("sessions").stream().map(Object::toString).toList();
        // a start still waiting (for a service that never registers) when the worker goes
        String waitingService = "never-registers-" + Long.toString(System.nanoTime(), 36);
        var waiting = py.execAsync("""
                await state['w'].start({"manifest": {"type": "k8s-job", "image": "python:3.11",
                    "command": ["python", "-c", "import time; time.sleep(600)"],
                    "wait_for_service": True, "service_id": "%s", "service_timeout": 300}})
                """.formatted(waitingService));
        Await.until("the waiting start's pod to run", Duration.ofSeconds(60), () -> kube.batch().v1().jobs().inNamespace(NAMESPACE)
                .list().getItems().stream().anyMatch(j -> waitingService.equals(j.getMetadata().getAnnotations().get(SessionMeta.SERVICE_ID))
                        && j.getStatus() != null && j.getStatus().getActive() != null && j.getStatus().getActive() > 0));
        String before = workerPod().getMetadata().getName();
        run(List.of(kubectl(), "delete", "pod", "-n", NAMESPACE, before, "--wait=false"), Duration.ofSeconds(60));
        // the waiting caller hears at once that the worker went away
        assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> waiting.get(60, TimeUnit.SECONDS)))
                .hasMessageContaining("disconnected").hasMessageNotContaining("Session not found");
        Await.until("a new worker pod to be Ready", Duration.ofSeconds(120), () -> {
            List<Pod> pods = kube.pods().inNamespace(NAMESPACE).withLabel("app.kubernetes.io/name", "hypha-k8s-worker").list().getItems();
            return pods.stream().anyMatch(p -> !p.getMetadata().getName().equals(before) && p.getStatus().getConditions() != null
                    && p.getStatus().getConditions().stream().anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals("True")));
        });
        List<String> listed = listSessionsWhenBack();
        assertThat(listed).containsAll(sessions);

        // a config change rolls the worker; the sessions survive it too
        String rolled = workerPod().getMetadata().getName();
        String out = run(List.of("./deploy-worker.sh", "-f", values.toString(), "--set", "kubernetes.defaultTimeout=1800"),
                Duration.ofMinutes(5));
        assertThat(out).contains("Deploying " + RELEASE);
        assertThat(workerPod().getMetadata().getName()).isNotEqualTo(rolled);
        assertThat(listSessionsWhenBack()).containsAll(sessions);

        py.exec("""
                for s in await state['w'].list_sessions():
                    await state['w'].stop(s["session_id"])
                """, Duration.ofSeconds(120));
    }

    /** list_sessions once the restarted worker has registered its service again (a call may meanwhile fail). */
    private static List<String> listSessionsWhenBack() {
        List<String> out = new ArrayList<>();
        Await.until("the worker's service to answer again", Duration.ofSeconds(120), () -> {
            try {
                Object r = py.exec("""
                        state['w'] = await server.get_service('%s/%s')
                        return [s["session_id"] for s in await state['w'].list_sessions()]
                        """.formatted(ws, serviceId), Duration.ofSeconds(30));
                out.clear();
                ((io.vertx.core.json.JsonArray) r).forEach(o -> out.add(o.toString()));
                return true;
            } catch (RuntimeException e) {
                return false;
            }
        });
        return out;
    }

    // ---------------------------------------------------------------- tools

    static String kubectl() throws IOException {
        try (var dirs = Files.list(Path.of(System.getProperty("user.home"), ".cache", "hypha-k8s-worker", "k8s-bins"))) {
            return dirs.map(d -> d.resolve("kubectl")).filter(Files::isExecutable).findFirst().orElseThrow().toString();
        }
    }

    static String helm() {
        return run(List.of("scripts/helm-tools.sh"), Duration.ofMinutes(5)).trim().lines().reduce((a, b) -> b).orElseThrow();
    }

    /** Runs a command from the project directory with the test cluster's kubeconfig; fails on a non-zero exit. */
    static String run(List<String> command, Duration timeout) {
        try {
            ProcessBuilder pb = new ProcessBuilder(command).directory(HyphaTestServer.projectDir().toFile()).redirectErrorStream(true);
            pb.environment().put("KUBECONFIG", KubeCluster.kubeconfigPath().toString());
            Process p = pb.start();
            byte[] bytes = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(command + " did not finish within " + timeout);
            }
            String out = new String(bytes, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new AssertionError(command + " exited with " + p.exitValue() + ":\n" + out);
            }
            return out;
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
