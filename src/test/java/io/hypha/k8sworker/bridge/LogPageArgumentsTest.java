package io.hypha.k8sworker.bridge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;

import org.junit.jupiter.api.Test;

import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.WorkerException;

/** get_logs' offset and limit: whole numbers in int range, refused otherwise, never wrapped. */
class LogPageArgumentsTest {

    @Test
    void wholeNumbersInRangeAreKept() {
        assertThat(CallArgs.count(null, "limit")).isNull();
        assertThat(CallArgs.count(0L, "offset")).isZero();
        assertThat(CallArgs.count(2.0, "offset")).isEqualTo(2);
        assertThat(CallArgs.count((long) Integer.MAX_VALUE, "limit")).isEqualTo(Integer.MAX_VALUE);
    }

    @Test
    void numbersBeyondIntAreRefusedNotWrapped() {
        // (int) 2^32 was 0 and (int) (2^31) negative: a wrong page instead of an error
        for (Object v : new Object[] {1L << 32, (long) Integer.MAX_VALUE + 1, Long.MAX_VALUE, -1L,
                BigInteger.TWO.pow(64).subtract(BigInteger.ONE), 1e300, Double.POSITIVE_INFINITY, Double.NaN, 0.5, "3", true}) {
            assertThatThrownBy(() -> CallArgs.count(v, "limit")).as("%s", v).isInstanceOfSatisfying(WorkerException.class,
                    e -> {
                        assertThat(e.code()).isEqualTo(ErrorCode.INVALID_REQUEST);
                        assertThat(e.getMessage()).startsWith("limit must be a whole number");
                    });
        }
    }

    @Test
    void aWrongArgumentIsTheCallersErrorWithoutAStackTrace() throws Exception {
        // list_sessions(workspace={...}) came back as an IllegalArgumentException with 4 000 characters of Java trace
        var body = CallArgs.callerErrors(inv -> {
            throw new IllegalArgumentException("list_sessions(): argument 'workspace' must be a string, got LinkedHashMap");
        });
        assertThatThrownBy(() -> body.call(null)).isInstanceOfSatisfying(WorkerException.class, e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.INVALID_REQUEST);
            assertThat(e.getStackTrace()).isEmpty();
            assertThat(e.getMessage()).isEqualTo("list_sessions(): argument 'workspace' must be a string, got LinkedHashMap");
        });
    }
}
