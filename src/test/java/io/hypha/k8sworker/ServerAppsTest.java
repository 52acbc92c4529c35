package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.rpc.ConnectOptions;
import io.hypha.rpc.HyphaClient;
import io.hypha.rpc.RpcFunction;
import io.hypha.rpc.ServiceDefinition;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

/**
 * Hypha's own app controller ({@code public/server-apps}) installs and starts an app of type
 * {@code k8s-job} through the worker. The launched program is played by a client that connects with
 * the client id and token it finds in the Job, as the real program would, and registers
 * {@code default}.
 */
@Tag("hypha")
@Tag("k8s")
class ServerAppsTest {

    static Vertx vertx;
    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static Watch jobWatch;
    static final Map<String, HyphaClient> programs = new ConcurrentHashMap<>();
    /** Every Job the worker created, by session id. */
    static final Map<String, Job> created = new ConcurrentHashMap<>();

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        hypha = HyphaTestServer.startPrivate("apps", Map.of("HYPHA_SERVER_APPS", "1"));
        kube = KubeCluster.adminClient();
        namespace = "apps-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        jobWatch = kube.batch().v1().jobs().inNamespace(namespace).watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, Job job) {
                if (action == Action.ADDED) {
                    created.put(job.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID), job);
                    new Thread(() -> playTheProgram(job)).start();
                } else if (action == Action.DELETED) {
                    HyphaClient program = programs.remove(job.getMetadata().getName());
                    if (program != null) {
                        program.disconnect();
                    }
                }
            }

            @Override
            public void onClose(WatcherException cause) {
            }
        });
        // the URL pods use (hypha.publicServerUrl) differs from the worker's own: the app controller must hand it to the apps
        worker = new WorkerProcess(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(),
                "HYPHA_PUBLIC_SERVER_URL", hypha.bridgeUrl(),
                "HYPHA_K8S_NAMESPACE", namespace, "KUBECONFIG", KubeCluster.kubeconfigPath().toString())).start();
    }

    @AfterAll
    static void tearDown() {
        if (jobWatch != null) {
            jobWatch.close();
        }
        programs.values().forEach(HyphaClient::disconnect);
        if (worker != null) {
            worker.close();
        }
        if (kube != null && namespace != null) {
            kube.namespaces().withName(namespace).delete();
        }
        if (hypha != null) {
            hypha.stop();
        }
        vertx.close();
    }

    /** What the app's own code would do: connect as the client the app controller expects and register default. */
    private static void playTheProgram(Job job) {
        Map<String, String> env = new java.util.HashMap<>();
        String secretName = null;
        for (EnvVar e : job.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv()) {
            if (e.getValue() != null) {
                env.put(e.getName(), e.getValue());
            } else if (e.getName().equals("HYPHA_TOKEN")) {
                secretName = e.getValueFrom().getSecretKeyRef().getName();
            }
        }
        String name = secretName;
        Secret secret = KubeCluster.await("the session's token Secret", Duration.ofSeconds(20),
                () -> kube.secrets().inNamespace(namespace).withName(name).get());
        String token = new String(Base64.getDecoder().decode(secret.getData().get(SessionMeta.TOKEN_KEY)), StandardCharsets.UTF_8);
        HyphaClient program = Await.result(HyphaClient.connect(vertx, new ConnectOptions().setServerUrl(env.get("HYPHA_SERVER_URL"))
                .setToken(token).setWorkspace(env.get("HYPHA_WORKSPACE")).setClientId(env.get("HYPHA_CLIENT_ID"))));
        Await.result(program.registerService(ServiceDefinition.builder("default")
                .function(RpcFunction.of("hello", inv -> "hello from " + env.get("HYPHA_CLIENT_ID"))).build()));
        programs.put(job.getMetadata().getName(), program);
    }

    @Test
    void anAppOfTypeK8sJobInstallsStartsLogsAndStopsThroughTheWorker() {
        try (PythonPeer user = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-apps-" + Long.toString(System.nanoTime(), 36)))) {
            JsonObject out = (JsonObject) user.exec("""
                    controller = await server.get_service("public/server-apps")
                    info = await controller.install(source="print('hi')", overwrite=True, timeout=60,
                        manifest={"name": "K8s test app", "type": "k8s-job", "version": "0.1.0",
                                  "entry_point": "main.py", "image": "python:3.11", "command": ["python", "main.py"]})
                    session = await controller.start(info["id"], wait_for_service="default", timeout=60)
                    app = await server.get_service(session["id"] + ":default")
                    hello = await app.hello()
                    logs = await controller.get_logs(session["id"])
                    await controller.stop(session["id"])
                    running = await controller.list_running()
                    return {"session": session["id"], "hello": hello, "logs": logs,
                            "still_running": [s["id"] for s in running if s["id"] == session["id"]]}
                    """, Duration.ofSeconds(180));
            String session = out.getString("session");
            assertThat(session).startsWith(hypha.userWorkspace() + "/");
            String clientId = session.substring(session.indexOf('/') + 1);
            assertThat(out.getString("hello")).isEqualTo("hello from " + clientId);
            assertThat(out.getJsonObject("logs").getJsonArray("items").encode()).contains("hypha test pod");
            assertThat(out.getJsonArray("still_running")).isEmpty();
            Await.until("the session's Job to be deleted", Duration.ofSeconds(30), () -> kube.batch().v1().jobs()
                    .inNamespace(namespace).list().getItems().stream()
                    .noneMatch(j -> session.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))));
            List<Job> left = kube.batch().v1().jobs().inNamespace(namespace).list().getItems();
            assertThat(left).as("the install's trial run was stopped too").isEmpty();
        }
    }

    /**
     * An app of Hypha's type k8s-pod whose manifest carries fields Hypha has not invented yet (one set,
     * one None, as the controller sends every field of its ApplicationManifest): installed, started
     * and stopped through the real app controller, the set field reported in the worker's log. The
     * controller honours the worker's use_local_url (the URL pods reach) and hands the app its
     * artifact and files URL.
     */
    @Test
    void anAppOfTypeK8sPodWithFieldsHyphaHasNotInventedYetRunsThroughTheWorker() {
        try (PythonPeer user = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-pod-apps-" + Long.toString(System.nanoTime(), 36)))) {
            JsonObject out = (JsonObject) user.exec("""
                    controller = await server.get_service("public/server-apps")
                    info = await controller.install(source="print('hi')", overwrite=True, timeout=60,
                        manifest={"name": "K8s pod app", "type": "k8s-pod", "version": "0.1.0",
                                  "entry_point": "main.py", "image": "python:3.11", "command": ["python", "main.py"],
                                  "working_dir": "/tmp",
                                  "a_field_hypha_has_not_invented_yet": {"enabled": True}, "another_future_field": None})
                    session = await controller.start(info["id"], wait_for_service="default", timeout=60)
                    app = await server.get_service(session["id"] + ":default")
                    hello = await app.hello()
                    logs = await controller.get_logs(session["id"])
                    await controller.stop(session["id"])
                    return {"app": info["id"], "session": session["id"], "hello": hello, "logs": logs}
                    """, Duration.ofSeconds(180));
            String session = out.getString("session");
            String ws = hypha.userWorkspace();
            String alias = out.getString("app").substring(out.getString("app").indexOf('/') + 1);
            assertThat(out.getString("hello")).isEqualTo("hello from " + session.substring(session.indexOf('/') + 1));
            assertThat(out.getJsonObject("logs").getJsonArray("items")).isNotEmpty();
            Job job = created.get(session);
            assertThat(job).isNotNull();
            assertThat(job.getMetadata().getLabels().get(SessionMeta.JOB_TYPE)).isEqualTo("k8s-pod");
            Map<String, String> env = new java.util.HashMap<>();
            job.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv().stream().filter(e -> e.getValue() != null)
                    .forEach(e -> env.put(e.getName(), e.getValue()));
            assertThat(env).containsEntry("HYPHA_SERVER_URL", hypha.bridgeUrl())
                    .containsEntry("HYPHA_APP_ID", alias)
                    .containsEntry("HYPHA_ARTIFACT_ID", ws + "/" + alias)
                    .containsEntry("HYPHA_APP_FILES_BASE_URL", hypha.bridgeUrl() + "/" + ws + "/artifacts/" + alias + "/files");
            assertThat(job.getSpec().getTemplate().getSpec().getContainers().get(0).getWorkingDir()).isEqualTo("/tmp");
            assertThat(worker.logText()).contains("manifest.a_field_hypha_has_not_invented_yet from Hypha's app controller is not used by "
                    + "type k8s-pod and is ignored").doesNotContain("another_future_field");
            Await.until("the session's Job to be deleted", Duration.ofSeconds(30), () -> kube.batch().v1().jobs()
                    .inNamespace(namespace).list().getItems().stream()
                    .noneMatch(j -> session.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))));
        }
    }
}
