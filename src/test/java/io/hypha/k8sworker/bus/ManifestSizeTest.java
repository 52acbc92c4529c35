package io.hypha.k8sworker.bus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.WorkerException;

class ManifestSizeTest {

    @Test
    void countsTheUtf8BytesOfKeysAndStringsAndEightForEveryOtherValue() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("image", "x:1");          // 5 + 3
        m.put("command", List.of("é", "€", "😀")); // 7 + 2 + 3 + 4
        m.put("timeout", 60L);           // 7 + 8
        m.put("env", Map.of("K", "v"));  // 3 + 1 + 1
        assertThatCode(() -> ManifestSize.check("manifest", m, Map.of(), 44)).doesNotThrowAnyException();
        assertThatThrownBy(() -> ManifestSize.check("manifest", m, Map.of(), 43))
                .isInstanceOf(WorkerException.class)
                .satisfies(e -> assertThat(((WorkerException) e).code()).isEqualTo(ErrorCode.FORBIDDEN))
                .hasMessage("manifest.command: the session's manifest is 44 bytes (16 in manifest.command), more than a session may carry "
                        + "(policy.maxManifestBytes: 43)");
    }

    @Test
    void theCallersOtherStringsCountAndTheAppMetadataJobTypesIgnoreDoesNot() {
        Map<String, Object> m = Map.of("image", "x:1", "readme", "r".repeat(100_000), "_rtype", "x".repeat(100_000));
        assertThatCode(() -> ManifestSize.check("config.manifest", m, Map.of(), 1024)).doesNotThrowAnyException();
        Map<String, Object> extras = new LinkedHashMap<>();
        extras.put("config.app_id", null);
        extras.put("config.token", "t".repeat(2000));
        assertThatThrownBy(() -> ManifestSize.check("config.manifest", m, extras, 1024))
                .hasMessageStartingWith("config.token: the session's manifest is more than 1024 bytes (more than 1024 in config.token)")
                .hasMessageEndingWith("(policy.maxManifestBytes: 1024)");
    }

    @Test
    void aHugeOrDeeplyNestedValueIsMeasuredOnlyAsFarAsTheLimitAndWithoutRecursion() {
        Object nested = "leaf";
        for (int i = 0; i < 200_000; i++) {
            nested = List.of(nested);
        }
        Object deep = nested;
        assertThatCode(() -> ManifestSize.check("manifest", Map.of("args", deep), Map.of(), 1024)).doesNotThrowAnyException();
        List<Object> many = new ArrayList<>();
        for (int i = 0; i < 1_000_000; i++) {
            many.add(i);
        }
        assertThat(ManifestSize.of(many, 1025)).isEqualTo(1025);
        assertThatThrownBy(() -> ManifestSize.check("manifest", Map.of("args", many), Map.of(), 1024))
                .hasMessageContaining("manifest.args: the session's manifest is more than 1024 bytes");
    }
}
