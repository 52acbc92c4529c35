package io.hypha.k8sworker.bridge;

import java.time.Duration;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.micrometer.backends.BackendRegistries;

/**
 * {@code hypha_worker_session_starts_seconds}: how long {@code start} took, by job type and outcome
 * (success, invalid_request, start_failed, ...); its count is the number of starts.
 */
final class StartMetrics {

    private final MeterRegistry registry = BackendRegistries.getDefaultNow();

    void started(String jobType, String outcome, long startedNanos) {
        if (registry == null) {
            return;
        }
        Timer.builder("hypha.worker.session.starts")
                .description("Duration of start() calls, by job type and outcome")
                .tag("type", jobType)
                .tag("outcome", outcome)
                .register(registry)
                .record(Duration.ofNanos(System.nanoTime() - startedNanos));
    }
}
