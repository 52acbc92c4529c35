package io.hypha.k8sworker.bridge;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class CallerRateLimitTest {

    @Test
    void eachCallerHasItsOwnBucketOfBurstCallsRefilledAtTheRate() {
        AtomicLong now = new AtomicLong(1_000_000_000L);
        CallerRateLimit limit = new CallerRateLimit(2, 3, now::get);
        for (int i = 0; i < 3; i++) {
            assertThat(limit.tryAcquire("a")).isTrue();
        }
        assertThat(limit.tryAcquire("a")).isFalse();
        assertThat(limit.tryAcquire("b")).as("another caller").isTrue();
        now.addAndGet(499_000_000L);
        assertThat(limit.tryAcquire("a")).as("not yet a whole call refilled").isFalse();
        now.addAndGet(2_000_000L);
        assertThat(limit.tryAcquire("a")).isTrue();
        assertThat(limit.tryAcquire("a")).isFalse();
        // a long pause refills no more than the burst
        now.addAndGet(3600_000_000_000L);
        for (int i = 0; i < 3; i++) {
            assertThat(limit.tryAcquire("a")).isTrue();
        }
        assertThat(limit.tryAcquire("a")).isFalse();
    }

    @Test
    void callersWithEverNewIdsDoNotGrowItWithoutBound() {
        AtomicLong now = new AtomicLong();
        CallerRateLimit limit = new CallerRateLimit(1000, 1, now::get);
        for (int i = 0; i < 5 * CallerRateLimit.SWEEP_ABOVE; i++) {
            assertThat(limit.tryAcquire("client " + i)).isTrue();
            now.addAndGet(1_000_000L);
        }
        assertThat(limit.size()).isLessThanOrEqualTo(CallerRateLimit.SWEEP_ABOVE);
    }
}
