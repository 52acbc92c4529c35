package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
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
import io.vertx.core.json.JsonArray;

/**
 * A daemon app across a Hypha restart: Hypha's app controller starts daemon apps again when it
 * prepares their workspace, having lost its sessions with the restart, while the app's Job from before
 * still runs. On a private server instance whose database survives the restart, with the app
 * controller, and the app's program played by a client that connects as the Job says (as in
 * {@link ServerAppsTest}).
 */
@Tag("hypha")
@Tag("k8s")
class DaemonAppRestartTest {

    static final Map<String, String> SERVER_ENV = Map.of("HYPHA_SERVER_APPS", "1", "HYPHA_PERSIST_DB", "1");
    static final Map<String, String> SERVER_ENV_KEEPING_PORT = Map.of("HYPHA_SERVER_APPS", "1", "HYPHA_PERSIST_DB", "1", "KEEP_PORT", "1");
    static final String SERVICE_ID = "k8s-worker-daemon-" + Long.toString(System.nanoTime(), 36);
    static Vertx vertx;
    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static Watch jobWatch;
    static final Map<String, HyphaClient> programs = new ConcurrentHashMap<>();

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        hypha = HyphaTestServer.startPrivate("daemon", SERVER_ENV);
        kube = KubeCluster.adminClient();
        namespace = "daemon-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        jobWatch = kube.batch().v1().jobs().inNamespace(namespace).watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, Job job) {
                if (action == Action.ADDED) {
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
        // in the public workspace, where the app controller finds workers for every workspace's apps
        worker = new WorkerProcess(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.tokenFor("daemon-operator", Map.of("public", "admin"), "public"),
                "HYPHA_WORKSPACE", "public", "HYPHA_VISIBILITY", "public",
                "HYPHA_SERVICE_ID", SERVICE_ID, "HYPHA_K8S_NAMESPACE", namespace,
                "KUBECONFIG", KubeCluster.kubeconfigPath().toString())).start();
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

    private static void playTheProgram(Job job) {
        Map<String, String> env = new HashMap<>();
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

    /** Jobs of the app not being deleted. */
    private static List<Job> liveJobsOf(String appAlias) {
        return kube.batch().v1().jobs().inNamespace(namespace).list().getItems().stream()
                .filter(j -> j.getMetadata().getDeletionTimestamp() == null)
                .filter(j -> appAlias.equals(j.getMetadata().getAnnotations().get(SessionMeta.APP_ID)))
                .toList();
    }

    @Test
    void aDaemonAppHasOneJobAfterHyphaRestarts() {
        String alias;
        String before;
        try (PythonPeer user = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-daemon-" + Long.toString(System.nanoTime(), 36)))) {
            JsonArray out = (JsonArray) user.exec("""
                    controller = await server.get_service("public/server-apps")
                    info = await controller.install(source="print('hi')", overwrite=True, timeout=60,
                        manifest={"name": "Daemon app", "type": "k8s-job", "version": "0.1.0", "daemon": True,
                                  "entry_point": "main.py", "image": "python:3.11", "command": ["python", "main.py"]})
                    session = await controller.start(info["id"], wait_for_service="default", timeout=60)
                    return [info["id"], session["id"]]
                    """, Duration.ofSeconds(180));
            alias = out.getString(0).substring(out.getString(0).indexOf('/') + 1);
            before = out.getString(1);
        }
        Await.until("the app's one Job", Duration.ofSeconds(30), () -> liveJobsOf(alias).size() == 1);
        Job jobBefore = liveJobsOf(alias).get(0);

        // Hypha crashes (a clean shutdown stops every app first): it loses its sessions, not the installed apps
        hypha.kill();
        // the app's program comes back after the worker (it finds Hypha again later), and then brings its
        // workspace back, where the controller starts the daemon app again
        programs.values().forEach(HyphaClient::disconnect);
        programs.clear();
        hypha.start(SERVER_ENV_KEEPING_PORT);
        try (PythonPeer watcher = hypha.python(Map.of("token", hypha.tokenFor("daemon-watcher", Map.of("public", "read"), "public"),
                "workspace", "public", "client_id", "py-daemon-watcher-" + Long.toString(System.nanoTime(), 36)))) {
            Await.until("the worker registered again", Duration.ofSeconds(90), () -> {
                try {
                    watcher.exec("await server.get_service('public/%s')".formatted(SERVICE_ID));
                    return true;
                } catch (RuntimeException e) {
                    return false;
                }
            });
        }
        new Thread(() -> playTheProgram(jobBefore)).start();

        try (PythonPeer user = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-daemon-after-" + Long.toString(System.nanoTime(), 36)))) {
            // the controller starts the daemon again once it prepares the workspace and finds the worker (it may
            // start it twice at once, preparing the workspace twice); the worker leaves the newest session of the app
            Await.until("the worker to replace the app's session from before the crash", Duration.ofSeconds(120),
                    () -> worker.logText().contains("replaces session " + before));
            Await.until("the app's Jobs to settle", Duration.ofSeconds(60), () -> liveJobsOf(alias).size() == 1
                    && !liveJobsOf(alias).get(0).getMetadata().getName().equals(jobBefore.getMetadata().getName()));
            String after = liveJobsOf(alias).get(0).getMetadata().getAnnotations().get(SessionMeta.SESSION_ID);
            assertThat(after).isNotEqualTo(before);
            // the controller knows the session that is left
            assertThat((JsonArray) user.exec("""
                    controller = await server.get_service("public/server-apps")
                    return [s["id"] for s in await controller.list_running() if s.get("app_id") == "%s"]
                    """.formatted(alias), Duration.ofSeconds(60))).contains(after);
            user.exec("""
                    controller = await server.get_service("public/server-apps")
                    await controller.stop("%s")
                    """.formatted(after), Duration.ofSeconds(60));
            Await.until("the app's Job gone", Duration.ofSeconds(60), () -> liveJobsOf(alias).isEmpty());
        }
    }
}
