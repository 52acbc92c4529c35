package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

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
 * A session's web port reached through Hypha's own HTTP endpoint: the worker (with the image's JVM
 * options) runs a small Python web app as a k8s-job with {@code ports} on the real node, and an HTTP
 * client, as a browser or curl would, uses {@code <server>/<workspace>/apps/<service_id>/...} with
 * a token and without, from the session's workspace and from another one. Needs
 * scripts/k8s-cluster.sh start (with its real node).
 */
@Tag("hypha")
@Tag("k8s")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class WebPortsTest {

    static final String PORT_SERVICE = "web-app-" + Long.toString(System.nanoTime(), 36);
    /** The same app on a second port, published unlisted: anyone with its URL may use it. */
    static final String OPEN_SERVICE = "web-open-" + Long.toString(System.nanoTime(), 36);
    /** How long a port may take to answer here: port 8002 never does. */
    static final int READY_SECONDS = 5;
    /** The proxy's read timeout here: /slow answers later than this. */
    static final int READ_TIMEOUT_SECONDS = 3;

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static Map<String, String> workerEnv;
    static PythonPeer py;
    static String ws;
    static String serviceId;
    static String session;
    static JsonArray progress;
    static HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @BeforeAll
    static void startWorkerAndWebApp() throws Exception {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        namespace = "web-ports-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        serviceId = "k8s-worker-ports-" + Long.toString(System.nanoTime(), 36);
        workerEnv = new HashMap<>(WorkerProcess.imageJvmEnv());
        workerEnv.putAll(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(), "HYPHA_K8S_NAMESPACE", namespace,
                "KUBECONFIG", KubeCluster.kubeconfigPath().toString(), "HYPHA_SERVICE_ID", serviceId,
                "HYPHA_K8S_WORKER_KUBERNETES_JOB_NODE_SELECTOR", "hypha.test/node=real",
                "HYPHA_K8S_WORKER_KUBERNETES_JOB_TOLERATIONS",
                "[{\"key\":\"hypha.test/node\",\"operator\":\"Equal\",\"value\":\"real\",\"effect\":\"NoSchedule\"}]",
                "HYPHA_K8S_WORKER_PORTS_READ_TIMEOUT_SECONDS", String.valueOf(READ_TIMEOUT_SECONDS),
                "HYPHA_K8S_WORKER_PORTS_MAX_VISIBILITY", "unlisted", "HYPHA_K8S_WORKER_PORTS_READY_SECONDS", String.valueOf(READY_SECONDS)));
        workerEnv.put("HYPHA_K8S_WORKER_KUBERNETES_START_TIMEOUT_SECONDS", "120");
        worker = new WorkerProcess(workerEnv).start();
        py = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-ports-" + Long.toString(System.nanoTime(), 36)));
        ws = py.workspace();
        py.exec("state['w'] = await server.get_service('%s/%s')".formatted(ws, serviceId), Duration.ofSeconds(60));

        String app = Files.readString(HyphaTestServer.projectDir().resolve("src/test/resources/py/web_app.py"));
        JsonObject started = (JsonObject) py.exec("""
                progress = []
                session = await state['w'].start({
                    "manifest": {"type": "k8s-job", "image": "python:3.11",
                                 "command": ["python", "-u", "-c", %s, "8000", "8001"],
                                 "ports": [{"port": 8000, "name": "http", "service_id": "%s"},
                                           {"port": 8001, "name": "open", "service_id": "%s", "visibility": "unlisted"},
                                           {"port": 8002, "name": "never"}],
                                 # start returns once the first port is published
                                 "wait_for_service": True, "service_id": "%2$s"},
                    "progress_callback": lambda m: progress.append(m["message"]),
                })
                return {"session": session, "progress": progress}
                """.formatted(new JsonArray().add(app).encode().replaceAll("^\\[|\\]$", ""), PORT_SERVICE, OPEN_SERVICE), Duration.ofSeconds(150));
        session = started.getString("session");
        progress = started.getJsonArray("progress");
    }

    @AfterAll
    static void cleanUp() {
        for (AutoCloseable c : new AutoCloseable[] {py, worker}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                // the namespace goes below
            }
        }
        if (kube != null && namespace != null) {
            kube.batch().v1().jobs().inNamespace(namespace).delete();
            kube.pods().inNamespace(namespace).withGracePeriod(0).delete();
            kube.namespaces().withName(namespace).delete();
        }
    }

    static String appUrl(String path) {
        return hypha.url() + "/" + ws + "/apps/" + PORT_SERVICE + path;
    }

    static HttpResponse<String> get(String path, String token) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(appUrl(path))).timeout(Duration.ofSeconds(60));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The port's service answers: Hypha lists it once the port answered. */
    static void awaitPublished() {
        Await.until("the web port to be published", Duration.ofSeconds(120), () -> {
            try {
                return get("/ready", hypha.userToken()).statusCode() == 200;
            } catch (IOException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        });
    }

    @Test
    @Order(1)
    void startTellsWhereThePortIsServedAndSessionInfoListsItPublished() throws Exception {
        String expectedUrl = hypha.url() + "/" + ws + "/apps/" + PORT_SERVICE + "/";
        assertThat(progress.encode()).contains("Port 8000 (http) will be served at " + expectedUrl)
                // wait_for_service with a port's service id: start returned once the port was published
                .contains("Service " + ws + "/" + PORT_SERVICE + " is registered");
        assertThat(get("/ready", hypha.userToken()).statusCode()).isEqualTo(200);
        JsonObject info = (JsonObject) py.exec("return await state['w'].get_session_info('%s')".formatted(session));
        JsonObject port = info.getJsonArray("ports").getJsonObject(0);
        assertThat(port.getString("url")).isEqualTo(expectedUrl);
        assertThat(port.getBoolean("published")).isTrue();
        assertThat(port.getString("service_id")).isEqualTo(PORT_SERVICE);
        assertThat(port.getString("visibility")).isEqualTo("protected");
        // the Python client finds it as Hypha's ASGI apps are found
        JsonObject svc = (JsonObject) py.exec("""
                svc = await server.get_service_info('%s/%s')
                return {"type": svc["type"], "visibility": svc["config"]["visibility"]}
                """.formatted(ws, PORT_SERVICE));
        assertThat(svc.getString("type")).isEqualTo("asgi");
        assertThat(svc.getString("visibility")).isEqualTo("protected");
    }

    @Test
    @Order(2)
    void aGetWithATokenReachesTheAppWithItsPathQueryAndForwardedHeadersButNotTheToken() throws Exception {
        awaitPublished();
        HttpRequest request = HttpRequest.newBuilder(URI.create(appUrl("/some/p%20ath?x=1&y=two")))
                .header("Authorization", "Bearer " + hypha.userToken()).header("X-Custom", "kept")
                .header("Cookie", "theme=dark; access_token=" + hypha.userToken()).build();
        HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("x-app")).hasValue("web-app");
        JsonObject seen = new JsonObject(r.body());
        assertThat(seen.getString("method")).isEqualTo("GET");
        assertThat(seen.getString("path")).isEqualTo("/some/p%20ath");
        assertThat(seen.getString("query")).isEqualTo("x=1&y=two");
        JsonObject headers = seen.getJsonObject("headers");
        assertThat(headers.getString("x-custom")).isEqualTo("kept");
        assertThat(headers.getString("x-forwarded-prefix")).isEqualTo("/" + ws + "/apps/" + PORT_SERVICE);
        assertThat(headers.getString("x-forwarded-proto")).isEqualTo("http");
        assertThat(headers.getString("x-forwarded-for")).isNotBlank();
        assertThat(headers.getString("x-forwarded-host")).isEqualTo(URI.create(hypha.url()).getAuthority());
        // Hypha's credentials are Hypha's: the session's code never sees them
        assertThat(headers.containsKey("authorization")).isFalse();
        assertThat(headers.getString("cookie")).isEqualTo("theme=dark");
        assertThat(r.body()).doesNotContain(hypha.userToken());
    }

    @Test
    @Order(3)
    void withoutATokenOrFromAnotherWorkspaceTheAppIsRefused() throws Exception {
        awaitPublished();
        HttpResponse<String> anonymous = get("/", null);
        assertThat(anonymous.statusCode()).isEqualTo(403);
        assertThat(anonymous.headers().firstValue("x-app")).isEmpty();
        assertThat(anonymous.body()).doesNotContain("x-forwarded");
        String otherToken = hypha.tokenFor("ports-other-" + Long.toString(System.nanoTime(), 36));
        HttpResponse<String> other = get("/", otherToken);
        assertThat(other.statusCode()).isEqualTo(403);
        assertThat(other.headers().firstValue("x-app")).isEmpty();
        assertThat(other.body()).doesNotContain("x-forwarded");
    }

    @Test
    @Order(3)
    void anUnlistedPortIsOpenToAnyoneWithItsUrlAndAPortThatNeverAnswersIsReportedNotPublished() throws Exception {
        HttpResponse<String> open = http.send(HttpRequest.newBuilder(URI.create(hypha.url() + "/" + ws + "/apps/" + OPEN_SERVICE + "/hi"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(open.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(open.body()).getString("path")).isEqualTo("/hi");
        JsonObject never = KubeCluster.await("port 8002 to be given up", Duration.ofSeconds(READY_SECONDS + 60), () -> {
            JsonObject info = (JsonObject) py.exec("return await state['w'].get_session_info('%s')".formatted(session));
            return info.getJsonArray("ports").stream().map(JsonObject.class::cast)
                    .filter(p -> p.getInteger("port") == 8002 && p.getString("error") != null).findFirst().orElse(null);
        });
        assertThat(never.getBoolean("published")).isFalse();
        assertThat(never.getString("error")).isEqualTo("port 8002 did not answer within " + READY_SECONDS + " s");
        assertThat(never.getString("service_id")).endsWith("-never");
    }

    @Test
    @Order(4)
    void postBodiesReachTheAppWholeSmallAndInManyChunks() throws Exception {
        awaitPublished();
        for (int size : List.of(0, 5, 3 * 1024 * 1024 + 17)) {
            byte[] body = new byte[size];
            for (int i = 0; i < size; i++) {
                body[i] = (byte) (i * 31 + 7);
            }
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(appUrl("/upload?n=" + size)))
                    .header("Authorization", "Bearer " + hypha.userToken()).header("Content-Type", "application/x-test")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as("POST of %d bytes", size).isEqualTo(201);
            JsonObject reply = new JsonObject(r.body());
            assertThat(reply.getInteger("length")).isEqualTo(size);
            assertThat(reply.getString("sha256")).isEqualTo(sha256(body));
            assertThat(reply.getString("content_type")).isEqualTo("application/x-test");
            assertThat(reply.getString("path")).isEqualTo("/upload?n=" + size);
        }
    }

    @Test
    @Order(5)
    void aResponseLargerThanTheWorkersHeapStreamsThroughWhole() throws Exception {
        awaitPublished();
        // 256 MiB through a worker whose heap is at most 192 MiB (the image's -Xmx): only a streaming proxy gets it through
        int mib = 256;
        HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create(appUrl("/big?mib=" + mib)))
                .header("Authorization", "Bearer " + hypha.userToken()).timeout(Duration.ofMinutes(5)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-length")).hasValue(String.valueOf(mib * 1024L * 1024L));
        byte[] block = new byte[65536];
        for (int i = 0; i < block.length; i++) {
            block[i] = (byte) i;
        }
        long total = 0;
        boolean intact = true;
        try (InputStream in = r.body()) {
            byte[] buf = new byte[65536];
            int n;
            while ((n = in.read(buf)) > 0) {
                for (int i = 0; i < n && intact; i++) {
                    intact = buf[i] == block[(int) ((total + i) % 65536)];
                }
                total += n;
            }
        }
        assertThat(total).isEqualTo(mib * 1024L * 1024L);
        assertThat(intact).isTrue();
        assertThat(worker.isAlive()).isTrue();
    }

    @Test
    @Order(6)
    void anAppSlowerThanTheReadTimeoutIsAnswered504AndTheNextRequestsStillWork() throws Exception {
        awaitPublished();
        HttpResponse<String> slow = get("/slow?s=" + (READ_TIMEOUT_SECONDS * 4), hypha.userToken());
        assertThat(slow.statusCode()).isEqualTo(504);
        assertThat(slow.body()).contains("did not answer within " + READ_TIMEOUT_SECONDS + " s");
        HttpResponse<String> quick = get("/slow?s=0.1", hypha.userToken());
        assertThat(quick.statusCode()).isEqualTo(200);
        assertThat(quick.body()).isEqualTo("late\n");
    }

    @Test
    @Order(6)
    void aResponseTheAppBreaksOffIsBrokenOffForTheBrowserTooNotPassedAsComplete() throws Exception {
        awaitPublished();
        HttpRequest request = HttpRequest.newBuilder(URI.create(appUrl("/broken"))).header("Authorization", "Bearer " + hypha.userToken())
                .timeout(Duration.ofSeconds(60)).build();
        assertThatThrownBy(() -> http.send(request, HttpResponse.BodyHandlers.ofString())).isInstanceOf(IOException.class);
        assertThat(get("/after-broken", hypha.userToken()).statusCode()).isEqualTo(200);
    }

    @Test
    @Order(7)
    void aRestartedWorkerPublishesThePortAgainFromTheJobsAnnotation() throws Exception {
        awaitPublished();
        Job job = kube.batch().v1().jobs().inNamespace(namespace).list().getItems().stream()
                .filter(j -> session.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID))).findFirst().orElseThrow();
        assertThat(job.getMetadata().getAnnotations().get(SessionMeta.PORTS)).contains("\"service_id\":\"" + PORT_SERVICE + "\"");
        worker.kill();
        // the killed worker's connection, and its services with it, leave Hypha
        Await.until("the port's service to go with the killed worker", Duration.ofSeconds(60), () -> {
            try {
                return get("/", hypha.userToken()).statusCode() != 200;
            } catch (Exception e) {
                return false;
            }
        });
        worker = new WorkerProcess(workerEnv).start();
        awaitPublished();
        assertThat(get("/after-restart", hypha.userToken()).body()).contains("\"path\": \"/after-restart\"");
    }

    @Test
    @Order(8)
    void aStopCutsADownloadShortAndThenTheUrlAnswers404() throws Exception {
        awaitPublished();
        // a download far longer than the test: the stop comes in the middle of it
        long size = 4096L * 1024 * 1024;
        HttpResponse<InputStream> download = http.send(HttpRequest.newBuilder(URI.create(appUrl("/big?mib=4096")))
                .header("Authorization", "Bearer " + hypha.userToken()).timeout(Duration.ofMinutes(5)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(download.statusCode()).isEqualTo(200);
        InputStream body = download.body();
        byte[] buf = new byte[65536];
        long read = body.readNBytes(buf, 0, buf.length);
        py.exec("""
                state['w'] = await server.get_service('%s/%s')
                await state['w'].stop('%s')
                """.formatted(ws, serviceId, session), Duration.ofSeconds(60));
        try (body) {
            int n;
            while ((n = body.read(buf)) > 0) {
                read += n;
            }
        } catch (IOException e) {
            // the connection was cut: what a browser sees of a response that ended early
        }
        assertThat(read).isLessThan(size);
        assertThat(worker.isAlive()).isTrue();
        Await.until("the URL to stop answering from the app", Duration.ofSeconds(60), () -> {
            try {
                int status = get("/", hypha.userToken()).statusCode();
                return status == 404 || status == 503;
            } catch (Exception e) {
                return false;
            }
        });
        HttpResponse<String> gone = get("/", hypha.userToken());
        assertThat(gone.statusCode()).isIn(404, 503);
        assertThat(gone.headers().firstValue("x-app")).isEmpty();
    }

    static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    static String text(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
