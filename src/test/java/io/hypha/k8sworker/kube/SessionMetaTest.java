package io.hypha.k8sworker.kube;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;

import org.junit.jupiter.api.Test;

class SessionMetaTest {

    private static final String DNS_1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

    @Test
    void jobNamesAreValidLabelsOfAtMost63CharactersEvenForHostileIds() {
        for (String clientId : new String[] {"k8s-abc", "_rapp_Very.Long/Client:Id__rlb" + "x".repeat(200), "", "---", "ÄÖÜ", null}) {
            String name = SessionMeta.jobName("ws/" + clientId, clientId);
            assertThat(name).matches(DNS_1123_LABEL).hasSizeLessThanOrEqualTo(63);
            // the token Secret's name must fit too
            assertThat(SessionMeta.tokenSecretName(name)).hasSizeLessThanOrEqualTo(253);
        }
    }

    @Test
    void sessionsThatShareAReadablePrefixStillGetDistinctNamesAndKeys() {
        Set<String> names = new HashSet<>();
        Set<String> keys = new HashSet<>();
        String longPrefix = "a".repeat(40);
        for (int i = 0; i < 1000; i++) {
            String session = "ws-" + (i % 7) + "/" + longPrefix + i;
            names.add(SessionMeta.jobName(session, longPrefix + i));
            keys.add(SessionMeta.sessionKey(session));
        }
        assertThat(names).hasSize(1000);
        assertThat(keys).hasSize(1000);
        assertThat(SessionMeta.jobName("ws/x", "x")).isEqualTo(SessionMeta.jobName("ws/x", "x"));
    }

    @Test
    void workerLabelsAreLabelSafe() {
        assertThat(SessionMeta.workerLabel("k8s-worker")).isEqualTo("k8s-worker");
        assertThat(SessionMeta.workerLabel("my worker/α")).matches("[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?");
        assertThat(SessionMeta.workerLabel("x".repeat(100))).hasSize(63);
    }
}
