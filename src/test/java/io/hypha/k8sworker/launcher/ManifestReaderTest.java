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
}
