package io.hypha.k8sworker.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;

/** Examples the fuzz tests found: caller text in errors is quoted short, escaped and defused. */
class ManifestReaderTest {

    private final K8sJobType type = new K8sJobType(WorkerConfig.load(Path.of("conf/config.yaml"), Map.of()));

    private String refusal(Map<String, Object> manifest) {
        return assertThatThrownBy(() -> type.compile(manifest)).isInstanceOf(WorkerException.class)
                .actual().getMessage();
    }

    @Test
    void aLongKeyIsQuotedShort() {
        String message = refusal(Map.of("image", "x:1", "node_selector", Map.of("k".repeat(70_000), "v")));
        assertThat(message).startsWith("manifest.node_selector.kkkk").endsWith(": not a valid label key").hasSizeLessThan(200);
    }

    @Test
    void aLongOrControlValueIsQuotedShortAndEscaped() {
        assertThat(refusal(Map.of("image", "x:1", "node_selector", Map.of("zone", "v\u0000" + "x".repeat(500)))))
                .startsWith("manifest.node_selector.zone: not a valid label value: v\\u0000xxx").hasSizeLessThan(200);
        assertThat(refusal(Map.of("image", "x:1", "node_selector", Map.of("zone", 7L))))
                .isEqualTo("manifest.node_selector.zone: not a valid label value: a number");
    }

    @Test
    void theClientsRetryWordsInCallerTextAreDefused() {
        assertThat(refusal(Map.of("image", "x:1", "node_selector", Map.of("zone", "Peer not found"))))
                .isEqualTo("manifest.node_selector.zone: not a valid label value: peer not found");
    }

    @Test
    void resourceNamesAreBoundedLikeLabelKeys() {
        assertThat(refusal(Map.of("image", "x:1", "resources", Map.of("limits", Map.of("a".repeat(300), "1")))))
                .endsWith(": not a valid resource name").hasSizeLessThan(200);
    }

    @Test
    void everyReferenceDockersGrammarRefusesIsRefusedNamingTheField() {
        String sha = "a".repeat(64);
        for (String bad : java.util.List.of("Python:3.11", "library/Python", "python:", "python::3", ":3.11", "a//b", "a/", "/a",
                "a__-b", "a..b", "-a", "a-", "python:3.11:x", "python:-x", "python:" + "t".repeat(129), "python@sha256:" + sha.toUpperCase(),
                "python@sha256:abc", "python@md5:" + "a".repeat(32), "python@" + sha, sha, "localhost:port/a", "a b",
                "ghcr.io/ACME/app", "a/" + "b".repeat(260), "python:3.11@", "@sha256:" + sha)) {
            assertThat(refusal(Map.of("image", bad))).as(bad).startsWith("manifest.image is not a valid image reference: '");
        }
        for (String good : java.util.List.of("python:3.11", "python", "library/python:3.11", "docker.io/library/python:3.11",
                "localhost:5000/a/b:c", "Registry.Example.com/app:V1.0", "a__b/c-d.e_f:1", "a---b", "[::1]:5000/app",
                "python:3.11@sha256:" + sha, "python@sha512:" + "b".repeat(128), "ghcr.io/acme/app:latest", "host_name.io/app", "Python/app")) {
            assertThat(ManifestValues.imageProblem(good)).as(good).isNull();
        }
        assertThat(refusal(Map.of("image", "Python:3.11"))).contains("lower-case");
        assertThat(refusal(Map.of("image", "python@md5:" + "a".repeat(32)))).contains("unsupported digest algorithm md5");
    }
}
