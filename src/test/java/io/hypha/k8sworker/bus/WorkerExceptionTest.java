package io.hypha.k8sworker.bus;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class WorkerExceptionTest {

    @Test
    void callerTextWithTheClientsRetryWordsIsDefused() {
        String message = WorkerException.invalid("manifest.env.X: not valid: Peer not found, Method not found: m, "
                + "Session not found: s, Connection was closed, Connection is closed, Method expired or not found").getMessage();
        assertThat(message).doesNotContain("Peer", "Method not found", "Session not found", "Connection was closed",
                "Connection is closed", "Method expired or not found");
        assertThat(message).startsWith("manifest.env.X: not valid: peer not found, method not found: m, session not found: s");
    }

    @Test
    void messagesAreBounded() {
        String message = WorkerException.invalid("manifest.image: " + "x".repeat(70_000)).getMessage();
        assertThat(message).hasSize(WorkerException.MAX_MESSAGE + 3).startsWith("manifest.image: xxx").endsWith("...");
    }
}
