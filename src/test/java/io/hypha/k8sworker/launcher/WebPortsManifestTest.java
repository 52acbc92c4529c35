package io.hypha.k8sworker.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.k8sworker.ports.WebPort;
import io.hypha.k8sworker.ports.WebPorts;

/** manifest.ports of k8s-job: read field by field within the ports settings, and carried on the Job. */
class WebPortsManifestTest {

    private static K8sJobType type(Map<String, String> env) {
        return new K8sJobType(WorkerConfig.load(Path.of("conf/config.yaml"), env));
    }

    private static Map<String, Object> compile(Object ports) {
        return type(Map.of()).compile(Map.of("image", "python:3.11", "ports", ports)).toMap();
    }

    private static String refusal(Object ports) {
        try {
            compile(ports);
        } catch (WorkerException e) {
            return e.code() + ": " + e.getMessage();
        }
        throw new AssertionError("not refused: " + ports);
    }

    @Test
    void portsCompileWithTheirDefaultsAndTheirIdsAreDerivedPerSession() {
        Map<String, Object> compiled = compile(List.of(Map.of("port", 8000, "name", "http", "service_id", "my-api"), Map.of("port", 9090)));
        List<WebPort> ports = WebPorts.fromPlain(compiled.get("ports"));
        assertThat(ports).containsExactly(new WebPort(8000, "http", "my-api", "protected"), new WebPort(9090, "p9090", null, "protected"));
        List<WebPort> a = WebPorts.forSession(ports, "ws-a/my-session");
        List<WebPort> b = WebPorts.forSession(ports, "ws-b/my-session");
        assertThat(a.get(0).serviceId()).isEqualTo("my-api");
        // the same client id in two workspaces: two service ids, both readable and stable
        assertThat(a.get(1).serviceId()).startsWith("my-session-").endsWith("-p9090").matches("[A-Za-z0-9_-]{1,63}");
        assertThat(a.get(1).serviceId()).isNotEqualTo(b.get(1).serviceId());
        assertThat(WebPorts.forSession(ports, "ws-a/my-session")).isEqualTo(a);
        assertThat(compile(List.of())).containsEntry("ports", List.of());
        assertThat(type(Map.of()).compile(Map.of("image", "python:3.11")).toMap()).containsEntry("ports", List.of());
    }

    @Test
    void theJobCarriesThePortsAndARestartedWorkerReadsThemBack() {
        Map<String, Object> compiled = compile(List.of(Map.of("port", 8000, "name", "http")));
        var job = new JobBuilder().withNewMetadata().withName("j").withAnnotations(new java.util.HashMap<>()).endMetadata().build();
        WebPorts.annotate(job, compiled.get("ports"), "ws/client-1");
        String annotation = job.getMetadata().getAnnotations().get(SessionMeta.PORTS);
        assertThat(WebPorts.fromAnnotation(annotation)).singleElement()
                .satisfies(p -> assertThat(p.serviceId()).isEqualTo(WebPorts.forSession(WebPorts.fromPlain(compiled.get("ports")), "ws/client-1")
                        .get(0).serviceId()));
        var none = new JobBuilder().withNewMetadata().withName("k").withAnnotations(new java.util.HashMap<>()).endMetadata().build();
        WebPorts.annotate(none, compile(List.of()).get("ports"), "ws/client-2");
        assertThat(none.getMetadata().getAnnotations()).doesNotContainKey(SessionMeta.PORTS);
        // a Job edited by hand publishes nothing rather than failing the watcher
        assertThat(WebPorts.fromAnnotation("not json")).isEmpty();
    }

    @Test
    void badPortsAreRefusedNamingTheField() {
        assertThat(refusal("8000")).isEqualTo("INVALID_REQUEST: manifest.ports must be a list, got a string");
        assertThat(refusal(List.of(8000))).contains("manifest.ports[0] must be a map");
        assertThat(refusal(List.of(Map.of()))).contains("manifest.ports[0].port must be a whole number from 1 to 65535, got nothing");
        assertThat(refusal(List.of(Map.of("port", 0)))).contains("manifest.ports[0].port must be a whole number from 1 to 65535");
        assertThat(refusal(List.of(Map.of("port", 70000)))).contains("manifest.ports[0].port");
        assertThat(refusal(List.of(Map.of("port", 80.5)))).contains("manifest.ports[0].port");
        assertThat(refusal(List.of(Map.of("port", "8000")))).contains("manifest.ports[0].port must be a whole number from 1 to 65535, got '8000'");
        assertThat(refusal(List.of(Map.of("port", 8000), Map.of("port", 8000)))).contains("manifest.ports[1].port: 8000 is listed twice");
        assertThat(refusal(List.of(Map.of("port", 8000, "name", "HTTP")))).contains("manifest.ports[0].name must be 1 to 15 lower-case");
        assertThat(refusal(List.of(Map.of("port", 8000, "name", "a"), Map.of("port", 8001, "name", "a")))).contains("manifest.ports[1].name: 'a' is used twice");
        assertThat(refusal(List.of(Map.of("port", 8000, "service_id", "a/b")))).contains("manifest.ports[0].service_id must be 1 to 63 characters");
        assertThat(refusal(List.of(Map.of("port", 8000, "service_id", "x"), Map.of("port", 8001, "service_id", "x"))))
                .contains("manifest.ports[1].service_id: 'x' is used twice");
        assertThat(refusal(List.of(Map.of("port", 8000, "visibility", "everyone")))).contains("manifest.ports[0].visibility must be one of [protected, unlisted, public]");
        assertThat(refusal(List.of(Map.of("port", 8000, "path", "/")))).contains("manifest.ports[0].path: unknown field (allowed: [name, port, service_id, visibility])");
    }

    @Test
    void thePolicyBoundsHowManyPortsAndHowVisible() {
        assertThat(refusal(List.of(Map.of("port", 8000, "visibility", "public"))))
                .isEqualTo("FORBIDDEN: manifest.ports[0].visibility: public is wider than ports may be published with here (ports.maxVisibility: protected)");
        K8sJobType wide = type(Map.of("HYPHA_K8S_WORKER_PORTS_MAX_VISIBILITY", "public", "HYPHA_K8S_WORKER_PORTS_MAX_PER_SESSION", "1"));
        assertThat(WebPorts.fromPlain(wide.compile(Map.of("image", "python:3.11", "ports", List.of(Map.of("port", 80, "visibility", "public"))))
                .toMap().get("ports"))).singleElement().satisfies(p -> assertThat(p.visibility()).isEqualTo("public"));
        assertThatThrownBy(() -> wide.compile(Map.of("image", "python:3.11", "ports", List.of(Map.of("port", 80), Map.of("port", 81)))))
                .isInstanceOfSatisfying(WorkerException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.FORBIDDEN))
                .hasMessage("manifest.ports: 2 ports, more than the 1 a session may publish here (ports.maxPerSession)");
        K8sJobType off = type(Map.of("HYPHA_K8S_WORKER_PORTS_MAX_PER_SESSION", "0"));
        assertThatThrownBy(() -> off.compile(Map.of("image", "python:3.11", "ports", List.of(Map.of("port", 80)))))
                .hasMessageContaining("ports.maxPerSession");
        assertThatThrownBy(() -> WorkerConfig.load(Path.of("conf/config.yaml"), Map.of("HYPHA_K8S_WORKER_PORTS_MAX_VISIBILITY", "world")))
                .hasMessageContaining("ports.maxVisibility must be protected, unlisted or public, got world");
        assertThatThrownBy(() -> WorkerConfig.load(Path.of("conf/config.yaml"), Map.of("HYPHA_K8S_WORKER_PORTS_READ_TIMEOUT_SECONDS", "0")))
                .hasMessageContaining("ports.readTimeoutSeconds must be at least 1");
    }
}
