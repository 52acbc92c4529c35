package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ConnectOptionsTest {

    private static String ws(String url) {
        return new ConnectOptions().setServerUrl(url).webSocketUrl();
    }

    @Test
    void normalisesServerUrlsAsTheReferenceClientsDo() {
        assertThat(ws("http://127.0.0.1:9527")).isEqualTo("ws://127.0.0.1:9527/ws");
        assertThat(ws("http://127.0.0.1:9527/")).isEqualTo("ws://127.0.0.1:9527/ws");
        assertThat(ws("https://hypha.example.org/base/")).isEqualTo("wss://hypha.example.org/base/ws");
        assertThat(ws("ws://h:1/custom/ws")).isEqualTo("ws://h:1/custom/ws");
        assertThat(ws("  wss://h/ws  ")).isEqualTo("wss://h/ws");
    }

    @Test
    void refusesUrlsTheServerWouldTakeForSomethingElse() {
        assertThatThrownBy(() -> ws("http://h/ws?workspace=x")).hasMessageContaining("query");
        assertThatThrownBy(() -> ws("ftp://h")).hasMessageContaining("must start with");
        assertThatThrownBy(() -> ws(null)).hasMessageContaining("serverUrl is required");
    }
}
