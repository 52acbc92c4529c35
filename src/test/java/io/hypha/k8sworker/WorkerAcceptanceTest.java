package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The worker as a user meets it: a real worker process, the real Hypha server, the local control
 * plane, and calls from the real Python client.
 */
@Tag("hypha")
@Tag("k8s")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class WorkerAcceptanceTest {

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static PythonPeer py;
    static String ws;

    static Map<String, String> workerEnv() {
        return Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(), "HYPHA_K8S_NAMESPACE", namespace,
                "HYPHA_VISIBILITY", "public", "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "HYPHA_K8S_WORKER_KUBERNETES_START_TIMEOUT_SECONDS", "60",
                "HYPHA_K8S_WORKER_KUBERNETES_UNSCHEDULABLE_GRACE_SECONDS", "3");
    }

    @BeforeAll
    static void setUp() {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        namespace = "worker-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        worker = new WorkerProcess(workerEnv()).start();
        py = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-user-" + Long.toString(System.nanoTime(), 36)));
        ws = py.workspace();
        py.exec("state['w'] = await server.get_service('%s/k8s-worker')".formatted(ws));
    }

    @AfterAll
    static void tearDown() {
        if (py != null) {
            py.close();
        }
        if (worker != null) {
            worker.close();
        }
        if (kube != null && namespace != null) {
            kube.namespaces().withName(namespace).delete();
        }
    }

    private static List<Job> jobs() {
        return kube.batch().v1().jobs().inNamespace(namespace).list().getItems();
    }

    private static Job jobOf(String sessionId) {
        return jobs().stream().filter(j -> sessionId.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID)))
                .findFirst().orElseThrow(() -> new AssertionError("no Job for " + sessionId));
    }

    private static Map<String, String> env(Container c) {
        return c.getEnv().stream().filter(e -> e.getValue() != null).collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
    }

    @Test
    @Order(1)
    void theReadmeK8sJobExampleStartsAJobWithItsEnvironmentLabelsAndLimits() {
        JsonObject out = (JsonObject) py.exec("""
                progress = []
                session = await state['w'].start({
                    "manifest": {
                        "type": "k8s-job",
                        "image": "python:3.11",
                        "command": ["python", "-c", "print('Hello from K8s Job!')"],
                        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                        "env": {"GREETING": "hi"}
                    },
                    "progress_callback": lambda m: progress.append(m)
                })
                info = await state['w'].get_session_info(session)
                return {"session": session, "info": info, "progress": progress}
                """);
        String session = out.getString("session");
        assertThat(session).startsWith(ws + "/");
        assertThat(out.getJsonObject("info").getString("status")).isIn("running", "completed");
        List<String> progress = out.getJsonArray("progress").stream().map(m -> ((JsonObject) m).getString("message")).toList();
        assertThat(progress).anyMatch(m -> m.contains("created")).anyMatch(m -> m.contains("is running") || m.contains("is succeeded"));

        Job job = jobOf(session);
        assertThat(job.getMetadata().getLabels()).containsEntry(SessionMeta.MANAGED_BY, "hypha-k8s-worker")
                .containsEntry(SessionMeta.JOB_TYPE, "k8s-job");
        assertThat(job.getMetadata().getAnnotations()).containsEntry(SessionMeta.WORKSPACE, ws);
        assertThat(job.getSpec().getActiveDeadlineSeconds()).isEqualTo(3600L);
        assertThat(job.getSpec().getTtlSecondsAfterFinished()).isEqualTo(3600);
        var pod = job.getSpec().getTemplate().getSpec();
        assertThat(pod.getAutomountServiceAccountToken()).isFalse();
        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        Container main = pod.getContainers().get(0);
        assertThat(main.getImage()).isEqualTo("python:3.11");
        assertThat(main.getCommand()).containsExactly("python", "-c", "print('Hello from K8s Job!')");
        assertThat(main.getResources().getLimits().get("cpu").toString()).isEqualTo("500m");
        assertThat(main.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(main.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        Map<String, String> env = env(main);
        assertThat(env).containsEntry("HYPHA_SERVER_URL", hypha.url()).containsEntry("HYPHA_WORKSPACE", ws)
                .containsEntry("HYPHA_SESSION_ID", session).containsEntry("GREETING", "hi")
                .containsKeys("HYPHA_CLIENT_ID", "HYPHA_APP_ID");
        Await.until("a pod of the session", Duration.ofSeconds(20), () -> !kube.pods().inNamespace(namespace)
                .withLabel(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(session)).list().getItems().isEmpty());
    }

    @Test
    @Order(2)
    void logsComeFromTheMainContainerAndRepeatedCallsDoNotDuplicateThem() {
        String session = (String) py.exec("""
                return await state['w'].start({"manifest": {"image": "busybox:1.36", "command": ["echo", "hi"]}})
                """);
        Await.until("the session to complete", Duration.ofSeconds(30), () -> "completed".equals(
                ((JsonObject) py.exec("return await state['w'].get_session_info('%s')".formatted(session))).getString("status")));
        JsonObject first = (JsonObject) py.exec("return await state['w'].get_logs('%s')".formatted(session));
        JsonObject second = (JsonObject) py.exec("return await state['w'].get_logs('%s')".formatted(session));
        assertThat(second.getInteger("total")).isEqualTo(first.getInteger("total"));
        assertThat(second.getJsonArray("items")).isEqualTo(first.getJsonArray("items"));
        List<String> stdout = first.getJsonArray("items").stream().map(JsonObject.class::cast)
                .filter(i -> "stdout".equals(i.getString("type"))).map(i -> i.getString("content")).toList();
        assertThat(stdout).isNotEmpty();
        assertThat(stdout).doesNotHaveDuplicates();
        JsonObject page = (JsonObject) py.exec("return await state['w'].get_logs('%s', type='stdout', offset=1, limit=1)".formatted(session));
        assertThat(page.getJsonArray("items")).hasSize(1);
        assertThat(page.getJsonArray("items").getJsonObject(0).getString("content")).isEqualTo(stdout.get(1));
        assertThat(page.getInteger("total")).isEqualTo(stdout.size());
    }

    @Test
    @Order(3)
    void claudeAgentStartReturnsOnlyOnceTheAgentsServiceIsRegistered() {
        String serviceId = "my-agent-" + Long.toString(System.nanoTime(), 36);
        JsonObject out = (JsonObject) py.exec("""
                registered = {}
                async def stand_in():
                    # plays the agent: once its pod runs, register the service it was told to
                    for _ in range(200):
                        sessions = await state['w'].list_sessions()
                        if any(s["app_type"] == "claude-agent" and s["service_id"] == "%1$s" and s["status"] == "running" for s in sessions):
                            await asyncio.sleep(1)
                            registered["at"] = time.time()
                            await server.register_service({"id": "%1$s", "config": {"visibility": "protected"}, "chat": lambda m: m})
                            return
                        await asyncio.sleep(0.2)
                task = asyncio.ensure_future(stand_in())
                session = await state['w'].start({"manifest": {"type": "claude-agent", "service_id": "%1$s",
                                                               "wait_for_service": True, "secret_name": "deno-claude-code-config"}})
                returned = time.time()
                await task
                agent = await server.get_service("%2$s/%1$s")
                return {"session": session, "registered": registered.get("at"), "returned": returned, "echo": await agent.chat("yo")}
                """.formatted(serviceId, ws), Duration.ofSeconds(120));
        assertThat(out.getDouble("registered")).isNotNull();
        assertThat(out.getDouble("returned")).isGreaterThanOrEqualTo(out.getDouble("registered"));
        assertThat(out.getString("echo")).isEqualTo("yo");
        Job job = jobOf(out.getString("session"));
        Container main = job.getSpec().getTemplate().getSpec().getContainers().get(0);
        Map<String, String> env = env(main);
        assertThat(env).containsEntry("SERVICE_ID", serviceId).containsEntry("AGENT_BASE_DIRECTORY", "/workspace")
                .containsEntry("AGENT_MAX_COUNT", "1").containsEntry("SERVICE_VISIBILITY", "protected");
        assertThat(main.getEnv().stream().filter(e -> e.getName().equals("ANTHROPIC_API_KEY")).findFirst().orElseThrow()
                .getValueFrom().getSecretKeyRef().getName()).isEqualTo("deno-claude-code-config");
    }

    @Test
    @Order(4)
    void aServiceThatNeverRegistersFailsTheStartAfterItsTimeoutAndLeavesNoJob() {
        int before = jobs().size();
        assertThatThrownBy(() -> py.exec("""
                await state['w'].start({"manifest": {"type": "claude-agent", "service_id": "never-registers",
                                                     "wait_for_service": True, "service_timeout": 3}})
                """, Duration.ofSeconds(90)))
                .hasMessageContaining("never-registers").hasMessageContaining("did not register within 3 s");
        Await.until("the Job to be deleted", Duration.ofSeconds(20), () -> jobs().stream()
                .noneMatch(j -> "never-registers".equals(j.getMetadata().getAnnotations().get(SessionMeta.SERVICE_ID))));
        assertThat(jobs().size()).isLessThanOrEqualTo(before);
    }

    @Test
    @Order(5)
    void imagesThatCannotRunFailTheStartWithTheKubernetesReasonAndLeaveNoJob() {
        for (String[] c : List.of(new String[] {"registry.example/app:fail", "exited with code 3"},
                new String[] {"registry.example/app:pullerror", "ErrImagePull"},
                new String[] {"registry.example/app:crash", "CrashLoopBackOff"})) {
            JsonObject out = (JsonObject) py.exec("""
                    progress = []
                    try:
                        await state['w'].start({"manifest": {"image": "%s"}, "progress_callback": lambda m: progress.append(m)})
                        return {"error": None}
                    except Exception as e:
                        return {"error": str(e), "progress": progress}
                    """.formatted(c[0]), Duration.ofSeconds(90));
            assertThat(out.getString("error")).as(c[0]).contains(c[1]);
            assertThat(out.getString("error")).doesNotContain("Session not found", "Method not found", "Peer");
            assertThat(out.getJsonArray("progress").stream().map(Object::toString).toList())
                    .anyMatch(m -> m.contains("created")).anyMatch(m -> m.contains(c[1]));
        }
        Await.until("no Job left of the failed starts", Duration.ofSeconds(20), () -> jobs().stream()
                .noneMatch(j -> j.getSpec().getTemplate().getSpec().getContainers().get(0).getImage().startsWith("registry.example/")));
    }

    @Test
    @Order(5)
    void unschedulablePodsAndExceededDeadlinesFailTheStartAndLeaveNoJob() {
        JsonObject out = (JsonObject) py.exec("""
                out = {"progress": []}
                for name, manifest in [("unschedulable", {"image": "python:3.11", "node_selector": {"disktype": "none-here"}}),
                                       ("deadline", {"image": "python:slow", "timeout": 1})]:
                    try:
                        await state['w'].start({"manifest": manifest, "progress_callback": lambda m: out["progress"].append(m)})
                        out[name] = None
                    except Exception as e:
                        out[name] = str(e)
                return out
                """, Duration.ofSeconds(90));
        assertThat(out.getString("unschedulable")).contains("Unschedulable");
        assertThat(out.getString("deadline")).contains("DeadlineExceeded");
        assertThat(out.getJsonArray("progress").stream().map(Object::toString).toList())
                .anyMatch(m -> m.contains("warning") && m.contains("Unschedulable"));
        Await.until("no Job left of the failed starts", Duration.ofSeconds(20), () -> jobs().stream()
                .noneMatch(j -> j.getSpec().getActiveDeadlineSeconds() == 1L
                        || j.getSpec().getTemplate().getSpec().getNodeSelector().containsKey("disktype")));
    }

    @Test
    @Order(6)
    void anotherWorkspaceCanNeitherSeeNorTouchASessionButItsOwnCallsWork() {
        String session = (String) py.exec("return await state['w'].start({'manifest': {'image': 'busybox:1.36'}})");
        // a user of another workspace (anonymous callers may not start sessions, and this one starts its own)
        String strangerId = "stranger-" + Long.toString(System.nanoTime(), 36);
        try (PythonPeer stranger = hypha.python(Map.of("token", hypha.tokenFor(strangerId), "client_id", "py-" + strangerId))) {
            assertThat(stranger.workspace()).isNotEqualTo(ws);
            JsonObject out = (JsonObject) stranger.exec("""
                    w = await server.get_service("%s/k8s-worker")
                    out = {"list": await w.list_sessions()}
                    for name, call in [("logs", lambda: w.get_logs("%2$s")), ("info", lambda: w.get_session_info("%2$s")),
                                       ("stop", lambda: w.stop("%2$s")), ("shutdown", lambda: w.shutdown())]:
                        try:
                            await call()
                            out[name] = "allowed"
                        except Exception as e:
                            out[name] = str(e)
                    try:
                        await w.start({"manifest": {"image": "busybox:1.36"}, "server_url": "http://evil.example"})
                        out["server_url"] = "allowed"
                    except Exception as e:
                        out["server_url"] = str(e)
                    own = await w.start({"manifest": {"image": "busybox:1.36"}})
                    out["own"] = [s["session_id"] for s in await w.list_sessions()] == [own]
                    await w.stop(own)
                    return out
                    """.formatted(ws, session), Duration.ofSeconds(60));
            assertThat(out.getJsonArray("list")).isEmpty();
            assertThat(out.getString("logs")).contains("unknown session");
            assertThat(out.getString("info")).contains("unknown session");
            assertThat(out.getString("shutdown")).contains("only for admins");
            // session pods may carry the operator's credentials: only admins choose where they connect
            assertThat(out.getString("server_url")).contains("config.server_url: only admins may send sessions to another Hypha server");
            assertThat(out.getBoolean("own")).isTrue();
        }
        // the stranger's stop changed nothing
        JsonObject info = (JsonObject) py.exec("return await state['w'].get_session_info('%s')".formatted(session));
        assertThat(info.getString("status")).isNotEqualTo("stopping");
        assertThat(jobOf(session).getMetadata().getDeletionTimestamp()).isNull();
    }

    @Test
    @Order(7)
    void badManifestsFailNamingTheFieldAndCreateNothing() {
        int before = jobs().size();
        JsonArray cases = new JsonArray(List.of(
                List.of("{}", "manifest.image is required"),
                List.of("{'image': 5}", "manifest.image must be a string"),
                List.of("{'image': ''}", "manifest.image is required"),
                List.of("{'image': 'bad image name'}", "manifest.image is not a valid image reference"),
                List.of("{'image': 'x:1', 'command': 'python -c 1'}", "manifest.command must be a list of strings"),
                List.of("{'image': 'x:1', 'command': ['ok', 3]}", "manifest.command[1] must be a string"),
                List.of("{'image': 'x:1', 'args': {'a': 1}}", "manifest.args must be a list of strings"),
                List.of("{'image': 'x:1', 'env': ['A=1']}", "manifest.env must be a map"),
                List.of("{'image': 'x:1', 'env': {'1 bad': 'x'}}", "manifest.env.1 bad: not a valid environment variable name"),
                List.of("{'image': 'x:1', 'env': {'A': 1}}", "manifest.env.A must be a string"),
                List.of("{'image': 'x:1', 'env': {'HYPHA_TOKEN': 'steal'}}", "manifest.env.HYPHA_TOKEN is set by the worker"),
                List.of("{'image': 'x:1', 'env': {'BIG': 'x' * 40000}}", "manifest.env.BIG is longer than"),
                List.of("{'image': 'x:1', 'resources': {'limits': {'cpu': 'lots'}}}", "manifest.resources.limits.cpu: not a Kubernetes quantity"),
                List.of("{'image': 'x:1', 'resources': {'limits': {'memory': '1Gb'}}}", "manifest.resources.limits.memory: not a Kubernetes quantity"),
                List.of("{'image': 'x:1', 'resources': {'maximum': {}}}", "manifest.resources.maximum: unknown field"),
                List.of("{'image': 'x:1', 'resources': {'limits': 4}}", "manifest.resources.limits must be a map"),
                List.of("{'image': 'x:1', 'timeout': -1}", "manifest.timeout must be between 1 and"),
                List.of("{'image': 'x:1', 'timeout': 10**9}", "manifest.timeout must be between 1 and"),
                List.of("{'image': 'x:1', 'timeout': 'forever'}", "manifest.timeout must be a whole number"),
                List.of("{'image': 'x:1', 'timeout': 1.5}", "manifest.timeout must be a whole number"),
                List.of("{'image': 'x:1', 'restart_policy': 'Always'}", "manifest.restart_policy must be one of"),
                List.of("{'image': 'x:1', 'image_pull_policy': 'Sometimes'}", "manifest.image_pull_policy must be one of"),
                List.of("{'image': 'x:1', 'backoff_limit': 99}", "manifest.backoff_limit must be between 0 and 10"),
                List.of("{'image': 'x:1', 'node_selector': {'disk': 'ssd fast'}}", "manifest.node_selector.disk: not a valid label value"),
                List.of("{'image': 'x:1', 'tolerations': [{'key': 'a', 'nope': 1}]}", "manifest.tolerations[0].nope: unknown field"),
                List.of("{'image': 'x:1', 'wait_for_service': 'yes'}", "manifest.wait_for_service must be true or false"),
                List.of("{'image': 'x:1', 'wait_for_service': True}", "manifest.service_id is required when manifest.wait_for_service is true"),
                List.of("{'image': 'x:1', 'service_id': 'a/b'}", "manifest.service_id must be"),
                List.of("{'image': 'x:1', 'service_timeout': 0}", "manifest.service_timeout must be between 1 and 3600"),
                List.of("{'image': 'x:1', 'privileged': True}", "manifest.privileged: unknown field"),
                List.of("{'type': 'gpu-cluster', 'image': 'x:1'}", "manifest.type: unsupported job type 'gpu-cluster'"),
                List.of("{'type': 'claude-agent', 'image': 'evil:1'}", "manifest.image: unknown field for type claude-agent"),
                List.of("{'type': 'claude-agent', 'secret_name': 'Not_A_Name'}", "manifest.secret_name must be a lower-case DNS name"),
                List.of("{'type': 'conda-worker', 'visibility': 'secret'}", "manifest.visibility must be one of"),
                List.of("{'image': 'x:1', 'command': ['x'] * 101}", "manifest.command has more than 100 items"),
                // the default policy
                List.of("{'image': 'x:1', 'tolerations': [{'key': 'gpu', 'operator': 'Exists'}]}",
                        "manifest.tolerations: callers may not set tolerations here (policy.allowTolerations is false)"),
                List.of("{'image': 'x:1', 'resources': {'limits': {'nvidia.com/gpu': 1}}}", "policy.resources.maxGpus: 0"),
                List.of("{'image': 'x:1', 'resources': {'requests': {'memory': '64Gi'}}}",
                        "manifest.resources.requests.memory: 64Gi is more than a job may have (policy.resources.maxMemory: 16Gi)"),
                List.of("{'image': 'x:1', 'service_account': 'default'}", "manifest.service_account: 'default' is not an allowed service account"),
                List.of("{'image': 'x:1', 'secret_env': {'K': {'secret': 'hypha-secrets', 'key': 'HYPHA_AGENTS_TOKEN'}}}",
                        "manifest.secret_env.K.secret: 'hypha-secrets' is not an allowed secret"),
                List.of("{'type': 'claude-agent', 'secret_name': 'hypha-secrets'}", "manifest.secret_name: 'hypha-secrets' is not an allowed secret"),
                List.of("{'image': 'x:1', 'resources': {'limits': {'cpu': '0'}}}", "manifest.resources.limits.cpu must be more than 0"),
                List.of("{'image': 'x:1', 'resources': {'limits': {'nvidia.com/gpu.shared': 1}}}",
                        "manifest.resources.limits.nvidia.com/gpu.shared: jobs here may ask for cpu, memory and <vendor>/gpu only"),
                List.of("{'type': 'claude-agent', 'env': {'ANTHROPIC_BASE_URL': 'http://evil.example'}}",
                        "manifest.env.ANTHROPIC_BASE_URL: claude-agent runs the operator's image with the operator's secrets, so callers may set only"),
                List.of("{'type': 'conda-worker', 'token_key': 'ADMIN_TOKEN'}", "manifest.token_key: only 'HYPHA_AGENTS_TOKEN' may be read")));
        JsonArray results = (JsonArray) py.exec("""
                cases = %s
                out = []
                for manifest_src, expected in cases:
                    manifest = eval(manifest_src)
                    errors = []
                    for call in ("start", "compile"):
                        try:
                            if call == "start":
                                await state['w'].start({"manifest": manifest})
                            else:
                                await state['w'].compile(manifest, [])
                            errors.append(None)
                        except Exception as e:
                            errors.append(str(e))
                    out.append([manifest_src, expected, errors])
                return out
                """.formatted(cases.encode()), Duration.ofSeconds(120));
        assertThat(results).hasSize(cases.size());
        for (Object o : results) {
            JsonArray r = (JsonArray) o;
            String expected = r.getString(1);
            assertThat(r.getJsonArray(2).getString(0)).as("start(%s)", r.getString(0)).isNotNull().contains(expected);
            assertThat(r.getJsonArray(2).getString(1)).as("compile(%s)", r.getString(0)).isNotNull().contains(expected);
            assertThat(r.getJsonArray(2).getString(0)).doesNotContain("Exception", "\tat ");
        }
        assertThat(jobs().size()).isEqualTo(before);
        assertThat(kube.secrets().inNamespace(namespace).list().getItems()).isEmpty();
    }

    @Test
    @Order(8)
    void compileFillsDefaultsAndKeepsTheAppsOwnFields() {
        JsonArray out = (JsonArray) py.exec("""
                return await state['w'].compile({"name": "My app", "type": "k8s-job", "image": "python:3.11"}, [{"name": "main.py"}])
                """);
        JsonObject manifest = out.getJsonObject(0);
        assertThat(manifest.getString("name")).isEqualTo("My app");
        assertThat(manifest.getString("restart_policy")).isEqualTo("Never");
        assertThat(manifest.getInteger("timeout")).isEqualTo(3600);
        assertThat(manifest.getString("image_pull_policy")).isEqualTo("IfNotPresent");
        assertThat(out.getJsonArray(1).getJsonObject(0).getString("name")).isEqualTo("main.py");
    }

    @Test
    @Order(9)
    void metricsCountStartsByTypeAndOutcome() throws Exception {
        String metrics = worker.metrics();
        assertThat(metrics).containsPattern("hypha_worker_session_starts_seconds_count\\{[^}]*outcome=\"success\"[^}]*type=\"k8s-job\"[^}]*} [1-9]");
        assertThat(metrics).containsPattern("hypha_worker_session_starts_seconds_count\\{[^}]*outcome=\"start_failed\"");
        assertThat(metrics).containsPattern("hypha_worker_session_starts_seconds_count\\{[^}]*outcome=\"invalid_request\"");
        assertThat(metrics).contains("jvm_memory_used_bytes");
    }

    @Test
    @Order(19)
    void anAdminOfTheWorkersWorkspaceCanShutDownEverySession() {
        py.exec("return await state['w'].start({'manifest': {'image': 'python:3.11'}})");
        assertThat(jobs()).isNotEmpty();
        JsonObject out = (JsonObject) py.exec("return await state['w'].shutdown()");
        assertThat(out.getInteger("stopped")).isPositive();
        Await.until("every Job of the worker to go", Duration.ofSeconds(30), () -> jobs().isEmpty());
        assertThat((JsonArray) py.exec("return await state['w'].list_sessions()")).isEmpty();
    }

    @Test
    @Order(20)
    void afterAKill9TheRestartedWorkerKnowsEverySessionAndDuplicatesNothing() {
        String session = (String) py.exec("return await state['w'].start({'manifest': {'image': 'python:3.11', 'command': ['sleep', '1']}})");
        JsonArray before = (JsonArray) py.exec("return sorted(s['session_id'] for s in await state['w'].list_sessions())");
        int jobsBefore = jobs().size();
        worker.kill();
        worker = new WorkerProcess(workerEnv()).start();
        Object after = py.exec("""
                for _ in range(50):
                    try:
                        state['w'] = await server.get_service('%s/k8s-worker')
                        return sorted(s['session_id'] for s in await state['w'].list_sessions())
                    except Exception:
                        await asyncio.sleep(0.3)
                """.formatted(ws), Duration.ofSeconds(60));
        assertThat(after).isEqualTo(before);
        assertThat(jobs()).hasSize(jobsBefore);
        JsonObject info = (JsonObject) py.exec("return await state['w'].get_session_info('%s')".formatted(session));
        assertThat(info.getString("session_id")).isEqualTo(session);
        JsonObject logs = (JsonObject) py.exec("return await state['w'].get_logs('%s')".formatted(session));
        assertThat(logs.getInteger("total")).isPositive();
        py.exec("await state['w'].stop('%s')".formatted(session));
        Await.until("the stopped session's Job to go", Duration.ofSeconds(20), () -> jobs().stream()
                .noneMatch(j -> session.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))));
        py.exec("await state['w'].stop('%s')".formatted(session));
    }

    @Test
    @Order(21)
    void sigtermUnregistersTheWorkerFromHyphaAndLeavesJobsRunning() {
        String session = (String) py.exec("return await state['w'].start({'manifest': {'image': 'python:3.11'}})");
        int jobsBefore = jobs().size();
        worker.terminate();
        assertThat(worker.logText()).contains("shutting down");
        Object ids = py.exec("return [s['id'] for s in await server.list_services({'workspace': '%s'})]".formatted(ws));
        // this worker's own registration: other workers (of other tests) may share the workspace
        assertThat(((JsonArray) ids).getList()).noneMatch(id -> String.valueOf(id).endsWith(":k8s-worker"));
        assertThat(jobs()).hasSize(jobsBefore);
        assertThat(jobs().stream().map(j -> j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))).contains(session);
    }
}
