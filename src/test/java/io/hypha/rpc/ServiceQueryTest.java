package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ServiceQueryTest {

    @Test
    void parsesEveryFormCallersWrite() {
        assertThat(ServiceQuery.parse("svc")).isEqualTo(new ServiceQuery(null, null, "svc", null));
        assertThat(ServiceQuery.parse("ws/svc")).isEqualTo(new ServiceQuery("ws", null, "svc", null));
        assertThat(ServiceQuery.parse("cid:svc")).isEqualTo(new ServiceQuery(null, "cid", "svc", null));
        assertThat(ServiceQuery.parse("ws/cid:svc@app")).isEqualTo(new ServiceQuery("ws", "cid", "svc", "app"));
        assertThat(ServiceQuery.parse("ws/*:svc@*")).isEqualTo(new ServiceQuery("ws", null, "svc", null));
        assertThatThrownBy(() -> ServiceQuery.parse("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ServiceQuery.parse("ws/cid:")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void matchesRegisteredIdsInTheRightWorkspace() {
        assertThat(ServiceQuery.parse("svc").matches("me/c1:svc@*", "me")).isTrue();
        assertThat(ServiceQuery.parse("svc").matches("other/c1:svc@*", "me")).isFalse();
        assertThat(ServiceQuery.parse("other/svc").matches("other/c1:svc", "me")).isTrue();
        assertThat(ServiceQuery.parse("me/c2:svc").matches("me/c1:svc", "me")).isFalse();
        assertThat(ServiceQuery.parse("svc@app").matches("me/c1:svc@other", "me")).isFalse();
        assertThat(ServiceQuery.parse("svc").matches("me/c1:svc-2", "me")).isFalse();
        assertThat(ServiceQuery.parse("svc").matches("garbage", "me")).isFalse();
    }
}
