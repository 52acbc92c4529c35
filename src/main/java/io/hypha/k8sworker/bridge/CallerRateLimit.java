package io.hypha.k8sworker.bridge;

import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * A token bucket per caller: {@code burst} calls at once, refilled at {@code ratePerSecond}. Buckets that have refilled are
 * forgotten once there are many, so that callers with ever new ids cannot grow it without bound.
 */
final class CallerRateLimit {

    /** Buckets kept before full ones are swept out. */
    static final int SWEEP_ABOVE = 10_000;

    private final double ratePerNano;
    private final double burst;
    private final LongSupplier nanoTime;
    private final Map<String, Bucket> buckets = new HashMap<>();

    private static final class Bucket {
        double tokens;
        long countedAt;
    }

    CallerRateLimit(double ratePerSecond, int burst, LongSupplier nanoTime) {
        this.ratePerNano = ratePerSecond / 1e9;
        this.burst = burst;
        this.nanoTime = nanoTime;
    }

    /** Takes one call from the caller's bucket; false when it is empty. */
    synchronized boolean tryAcquire(String caller) {
        long now = nanoTime.getAsLong();
        if (buckets.size() >= SWEEP_ABOVE) {
            buckets.values().removeIf(b -> level(b, now) >= burst);
        }
        Bucket bucket = buckets.computeIfAbsent(caller, k -> {
            Bucket b = new Bucket();
            b.tokens = burst;
            b.countedAt = now;
            return b;
        });
        double tokens = level(bucket, now);
        bucket.countedAt = now;
        if (tokens < 1) {
            bucket.tokens = tokens;
            return false;
        }
        bucket.tokens = tokens - 1;
        return true;
    }

    /** Callers remembered. */
    synchronized int size() {
        return buckets.size();
    }

    private double level(Bucket bucket, long now) {
        return Math.min(burst, bucket.tokens + (now - bucket.countedAt) * ratePerNano);
    }
}
