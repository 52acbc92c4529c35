package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

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
import io.vertx.core.json.JsonObject;

/**
 * Hypha's own documented calls against its Kubernetes worker (docs/k8s.md of Hypha: {@code start}
 * with {@code type: k8s-pod} beside the manifest and a plain session id, {@code execute},
 * {@code get_logs}, {@code get_session_info}, {@code stop}), unchanged, from the real Python client.
 * The worker places its Jobs on the real node (the operator's jobNodeSelector and jobTolerations), so
 * {@code execute} runs in a real container through pods/exec.
 */
@Tag("hypha")
@Tag("k8s")
class HyphaCallFormsTest {

    static final int MAX_OUTPUT = 4096;
    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static String serviceId;
    static String run;
    static WorkerProcess worker;
    static PythonPeer user;
    static String ws;

    @BeforeAll
    static void setUp() {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        run = Long.toString(System.nanoTime(), 36);
        namespace = "calls-" + run;
        serviceId = "k8s-worker-calls-" + run;
        ws = hypha.userWorkspace();
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        worker = new WorkerProcess(workerEnv(serviceId, Map.of())).start();
        user = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-calls-" + run));
        // Hypha's docs: k8s_worker = await server.get_service("k8s-worker"), here under this worker's own id
        user.exec("state['k8s_worker'] = await server.get_service('%s/%s')".formatted(ws, serviceId), Duration.ofSeconds(60));
    }

    static Map<String, String> workerEnv(String id, Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(),
                "HYPHA_SERVICE_ID", id, "HYPHA_VISIBILITY", "public", "HYPHA_K8S_NAMESPACE", namespace,
                "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                // pods on the real node reach Hypha at the node's bridge address
                "HYPHA_PUBLIC_SERVER_URL", hypha.bridgeUrl(),
                "HYPHA_K8S_WORKER_KUBERNETES_JOB_NODE_SELECTOR", "hypha.test/node=real",
                "HYPHA_K8S_WORKER_KUBERNETES_JOB_TOLERATIONS",
                "[{\"key\": \"hypha.test/node\", \"operator\": \"Equal\", \"value\": \"real\", \"effect\": \"NoSchedule\"}]",
                "HYPHA_K8S_WORKER_KUBERNETES_START_TIMEOUT_SECONDS", "120"));
        env.put("HYPHA_K8S_WORKER_POLICY_RESOURCES_DEFAULT_REQUESTS_CPU", "50m");
        env.put("HYPHA_K8S_WORKER_POLICY_RESOURCES_DEFAULT_REQUESTS_MEMORY", "64Mi");
        env.put("HYPHA_K8S_WORKER_POLICY_RESOURCES_DEFAULT_LIMITS_MEMORY", "256Mi");
        env.put("HYPHA_K8S_WORKER_POLICY_MAX_EXECUTE_OUTPUT_BYTES", String.valueOf(MAX_OUTPUT));
        env.putAll(extra);
        return env;
    }

    @AfterAll
    static void tearDown() {
        if (user != null) {
            user.close();
        }
        if (worker != null) {
            worker.close();
        }
        if (kube != null && namespace != null) {
            kube.batch().v1().jobs().inNamespace(namespace).withGracePeriod(0).delete();
            kube.pods().inNamespace(namespace).withGracePeriod(0).delete();
            kube.namespaces().withName(namespace).delete();
        }
    }

    @Test
    void hyphasDocumentedCallsRunUnchangedWithExecuteInARealContainer() {
        JsonObject out = (JsonObject) user.exec("""
                k8s_worker = state['k8s_worker']
                assert "k8s-pod" in k8s_worker.supported_types, k8s_worker.supported_types
                # docs/k8s.md, "Launch a Pod" (the image one the real node holds)
                config = {
                    "id": "my-app-session",
                    "type": "k8s-pod",
                    "manifest": {
                        "image": "python:3.11",
                        "command": ["sleep", "3600"],
                        "env": {
                            "MY_VAR": "my_value",
                            "DEBUG": "true"
                        },
                        "image_pull_policy": "IfNotPresent"
                    }
                }
                session_id = await k8s_worker.start(config)
                progress = []
                whoami = await k8s_worker.execute(session_id, "whoami")
                uid = await k8s_worker.execute(session_id, "id -u", progress_callback=lambda m: progress.append(m))
                env = await k8s_worker.execute(session_id, "echo $MY_VAR $HYPHA_APP_ID")
                py = await k8s_worker.execute(session_id, 'python -c "print(6 * 7)"')
                piped = await k8s_worker.execute(session_id, "echo hello | tr a-z A-Z")
                failed = await k8s_worker.execute(session_id, "echo oops >&2; exit 3")
                slow = await k8s_worker.execute(session_id, "sleep 20", config={"timeout": 1, "shell": "/bin/bash"})
                big = await k8s_worker.execute(session_id, "head -c 100000 /dev/zero | tr '\\\\0' a")
                info = await k8s_worker.get_session_info(session_id)
                logs = await k8s_worker.get_logs(session_id)
                stdout_logs = await k8s_worker.get_logs(session_id, type="stdout", limit=100)
                progress_logs = await k8s_worker.get_logs(session_id, type="progress")
                progress_page = await k8s_worker.get_logs(session_id, type="progress", offset=1, limit=1)
                sessions = await k8s_worker.list_sessions()
                await k8s_worker.stop(session_id)
                return {"session_id": session_id, "whoami": whoami, "uid": uid, "env": env, "py": py, "piped": piped,
                        "failed": failed, "slow": slow, "big_status": big["status"], "big_len": len(big["outputs"][0]["text"]),
                        "big_truncated": big.get("truncated"), "status": info.status, "logs": logs, "stdout_logs": stdout_logs,
                        "sessions": [s["session_id"] for s in sessions], "progress": progress,
                        "progress_logs": progress_logs, "progress_page": progress_page}
                """, Duration.ofSeconds(240));
        // the id as the caller gave it; the session is the client my-app-session of the caller's workspace
        assertThat(out.getString("session_id")).isEqualTo("my-app-session");
        assertThat(out.getJsonArray("sessions")).contains(ws + "/my-app-session");
        assertThat(out.getString("status")).isEqualTo("running");
        // sessions run as uid 1000, which has no name in python:3.11: whoami says so, as it would under Hypha's worker
        JsonObject whoami = out.getJsonObject("whoami");
        assertThat(whoami.getString("status")).isEqualTo("error");
        assertThat(whoami.getJsonObject("error").getString("ename")).isEqualTo("CommandError");
        assertThat(whoami.getJsonArray("outputs").encode()).contains("1000");
        assertThat(out.getJsonObject("uid").getMap()).isEqualTo(Map.of("status", "ok",
                "outputs", List.of(Map.of("type", "stream", "name", "stdout", "text", "1000"))));
        assertThat(stdout(out.getJsonObject("env"))).isEqualTo("my_value k8s-pod");
        assertThat(stdout(out.getJsonObject("py"))).isEqualTo("42");
        assertThat(stdout(out.getJsonObject("piped"))).isEqualTo("HELLO");
        JsonObject failed = out.getJsonObject("failed");
        assertThat(failed.getString("status")).isEqualTo("error");
        assertThat(failed.getJsonObject("error").getMap()).isEqualTo(Map.of("ename", "CommandError",
                "evalue", "Command failed with return code 3", "traceback", List.of("oops")));
        assertThat(failed.getJsonArray("outputs").getList()).containsExactly(Map.of("type", "stream", "name", "stderr", "text", "oops"));
        assertThat(out.getJsonObject("slow").getJsonObject("error").getString("ename")).isEqualTo("TimeoutError");
        assertThat(out.getString("big_status")).isEqualTo("ok");
        assertThat(out.getInteger("big_len")).isEqualTo(MAX_OUTPUT);
        assertThat(out.getBoolean("big_truncated")).isTrue();
        assertThat(out.getJsonArray("progress").stream().map(m -> ((JsonObject) m).getString("type")).toList())
                .containsExactly("info", "success");
        assertThat(out.getJsonObject("logs").getInteger("total")).isPositive();
        assertThat(out.getJsonObject("stdout_logs").getInteger("limit")).isEqualTo(100);
        // the start's progress messages, as Hypha's workers keep them, paged like the rest
        JsonObject progressLogs = out.getJsonObject("progress_logs");
        List<Object> progressItems = progressLogs.getJsonArray("items").getList();
        assertThat(progressItems).allSatisfy(i -> assertThat(((Map<?, ?>) i).get("type")).isEqualTo("progress"));
        assertThat(progressItems).first().satisfies(i -> assertThat((String) ((Map<?, ?>) i).get("content")).startsWith("INFO: Job "));
        assertThat(progressItems).last().isEqualTo(Map.of("type", "progress", "content", "SUCCESS: Session " + ws + "/my-app-session started"));
        assertThat(progressLogs.getInteger("total")).isEqualTo(progressItems.size()).isGreaterThanOrEqualTo(2);
        assertThat(out.getJsonObject("progress_page").getJsonArray("items").getList()).containsExactly(progressItems.get(1));
        assertThat(out.getJsonObject("progress_page").getInteger("total")).isEqualTo(progressItems.size());
        Await.until("the session's Job to be deleted", Duration.ofSeconds(60), () -> kube.batch().v1().jobs().inNamespace(namespace)
                .list().getItems().stream().noneMatch(j -> (ws + "/my-app-session").equals(j.getMetadata().getAnnotations()
                        .get(SessionMeta.SESSION_ID))));
    }

    private static String stdout(JsonObject result) {
        assertThat(result.getString("status")).as(result.encode()).isEqualTo("ok");
        return result.getJsonArray("outputs").getJsonObject(0).getString("text");
    }

    @Test
    void aPlainSessionIdNeverReachesAnotherWorkspace() {
        String other = "calls-other-" + run;
        try (PythonPeer stranger = hypha.python(Map.of("token", hypha.tokenFor(other), "client_id", "py-" + other))) {
            stranger.exec("state['w'] = await server.get_service('%s/%s')".formatted(ws, serviceId), Duration.ofSeconds(60));
            String session = (String) user.exec("""
                    return await state['k8s_worker'].start({"id": "shared-name", "type": "k8s-pod",
                        "manifest": {"image": "python:3.11", "command": ["sleep", "3600"]}})
                    """, Duration.ofSeconds(180));
            assertThat(session).isEqualTo("shared-name");
            for (String id : List.of("shared-name", ws + "/shared-name")) {
                for (String call : List.of("execute('%s', 'id -u')", "get_logs('%s')", "get_session_info('%s')")) {
                    assertThatThrownBy(() -> stranger.exec("return await state['w']." + call.formatted(id)))
                            .hasMessageContaining("unknown session");
                }
                // stop answers as for an id that does not exist: done, and nothing stopped (below)
                stranger.exec("await state['w'].stop('%s')".formatted(id));
            }
            assertThat(kube.batch().v1().jobs().inNamespace(namespace).list().getItems().stream()
                    .filter(j -> j.getMetadata().getDeletionTimestamp() == null)
                    .map(j -> j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))).contains(ws + "/shared-name");
            user.exec("await state['k8s_worker'].stop('shared-name')");
        }
    }

    @Test
    void aDirectCallerStillHasUnknownFieldsAndForbiddenVolumesRefused() {
        assertThatThrownBy(() -> user.exec("""
                await state['k8s_worker'].start({"id": "typo", "type": "k8s-pod", "manifest": {"image": "python:3.11", "imagePullPolicy": "Never"}})
                """)).hasMessageContaining("manifest.imagePullPolicy: unknown field for type k8s-pod");
        assertThatThrownBy(() -> user.exec("""
                await state['k8s_worker'].start({"type": "k8s-pod", "manifest": {"type": "k8s-job", "image": "python:3.11"}})
                """)).hasMessageContaining("config.type ('k8s-pod') and manifest.type ('k8s-job') differ");
        assertThatThrownBy(() -> user.exec("""
                await state['k8s_worker'].start({"type": "k8s-pod", "manifest": {"image": "python:3.11",
                    "volumes": [{"name": "data-volume", "mount_path": "/data", "pvc_name": "my-pvc"}]}})
                """)).hasMessageContaining("manifest.volumes[0].pvc_name: 'my-pvc' is not an allowed PersistentVolumeClaim")
                .hasMessageContaining("policy.allowedVolumeClaims");
        assertThatThrownBy(() -> user.exec("""
                await state['k8s_worker'].execute("no-such-session", "id", config={"timeout": 5, "user": "root"})
                """)).hasMessageContaining("config.user: unknown field for execute");
        assertThat(kube.batch().v1().jobs().inNamespace(namespace).list().getItems().stream()
                .map(j -> j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))).doesNotContain(ws + "/typo");
    }

    @Test
    void aWorkerWithExecuteTurnedOffRefusesIt() {
        String offId = "k8s-worker-noexec-" + run;
        try (WorkerProcess off = new WorkerProcess(workerEnv(offId, Map.of("HYPHA_K8S_WORKER_POLICY_ALLOW_EXECUTE", "false"))).start()) {
            user.exec("state['off'] = await server.get_service('%s/%s')".formatted(ws, offId), Duration.ofSeconds(60));
            assertThatThrownBy(() -> user.exec("await state['off'].execute('anything', 'id -u')"))
                    .hasMessageContaining("execute is turned off on this worker (policy.allowExecute is false)");
        }
    }

    @Test
    void theVolumesOfAnAllowedClaimAndTheWorkingDirReachThePod() {
        String volId = "k8s-worker-vol-" + run;
        try (WorkerProcess vol = new WorkerProcess(workerEnv(volId, Map.of("HYPHA_K8S_WORKER_POLICY_ALLOWED_VOLUME_CLAIMS", "my-pvc",
                // the claim does not exist: the Job shows the mount, the pod waits for the claim
                "HYPHA_K8S_WORKER_KUBERNETES_JOB_NODE_SELECTOR", "",
                "HYPHA_K8S_WORKER_KUBERNETES_JOB_TOLERATIONS", ""))).start()) {
            user.exec("state['vol'] = await server.get_service('%s/%s')".formatted(ws, volId), Duration.ofSeconds(60));
            user.execAsync("""
                    await state['vol'].start({"id": "with-volume", "type": "k8s-pod", "manifest": {"image": "python:3.11",
                        "working_dir": "/data", "volumes": [{"name": "data-volume", "mount_path": "/data", "pvc_name": "my-pvc"}]}})
                    """);
            Job job = KubeCluster.await("the Job with the volume", Duration.ofSeconds(60), () -> kube.batch().v1().jobs()
                    .inNamespace(namespace).list().getItems().stream()
                    .filter(j -> (ws + "/with-volume").equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID)))
                    .findFirst().orElse(null));
            var spec = job.getSpec().getTemplate().getSpec();
            assertThat(spec.getVolumes()).singleElement().satisfies(v -> {
                assertThat(v.getName()).isEqualTo("data-volume");
                assertThat(v.getPersistentVolumeClaim().getClaimName()).isEqualTo("my-pvc");
            });
            var container = spec.getContainers().get(0);
            assertThat(container.getVolumeMounts()).singleElement().satisfies(m -> assertThat(m.getMountPath()).isEqualTo("/data"));
            assertThat(container.getWorkingDir()).isEqualTo("/data");
            assertThat(container.getEnv().stream().map(EnvVar::getName)).contains("HYPHA_APP_ID");
            user.exec("await state['vol'].stop('with-volume')");
        }
    }
}
