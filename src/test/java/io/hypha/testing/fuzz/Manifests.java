package io.hypha.testing.fuzz;

import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/**
 * Manifests for fuzzing: mostly shaped like real ones (known fields of every job type, plausible
 * values) with mutations in any field: wrong types, extreme numbers, odd quantities and names,
 * unicode and control characters, long strings, deep nesting, unknown fields. Values are what a
 * msgpack decoder can produce: null, Boolean, Long, BigInteger, Double, String, List, Map.
 */
public final class Manifests {

    private Manifests() {
    }

    static final List<String> TYPES = List.of("k8s-job", "claude-agent", "conda-worker");

    static final List<String> FIELDS = List.of("type", "image", "command", "args", "env", "resources", "timeout",
            "image_pull_policy", "restart_policy", "backoff_limit", "node_selector", "tolerations", "wait_for_service",
            "service_id", "service_timeout", "secret_name", "visibility", "token_secret", "token_key", "service_account",
            "secret_env", "name", "description", "entry_point", "labels");

    /** Any value at all, nested up to {@code depth}. */
    public static Arbitrary<Object> anyValue(int depth) {
        Arbitrary<Object> leaf = Arbitraries.oneOf(
                Arbitraries.just(null),
                Arbitraries.of(true, false).map(b -> (Object) b),
                Arbitraries.longs().map(l -> (Object) l),
                Arbitraries.of(0L, -1L, 1L, Long.MAX_VALUE, Long.MIN_VALUE, (long) Integer.MAX_VALUE + 1, 100_000_000L).map(l -> (Object) l),
                Arbitraries.of(BigInteger.TWO.pow(64).subtract(BigInteger.ONE), BigInteger.TWO.pow(63)).map(b -> (Object) b),
                Arbitraries.of(Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, 0.5, 1e300, 60.0, 3.7)
                        .map(d -> (Object) d),
                text());
        if (depth <= 0) {
            return leaf;
        }
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, leaf),
                net.jqwik.api.Tuple.of(1, anyValue(depth - 1).list().ofMaxSize(4).map(l -> (Object) l)),
                net.jqwik.api.Tuple.of(1, Arbitraries.maps(key(), anyValue(depth - 1)).ofMaxSize(4).map(m -> (Object) m)));
    }

    /** Strings a caller could send: plausible names, quantities, unicode, controls, the client's retry words, long text. */
    public static Arbitrary<String> text() {
        return Arbitraries.oneOf(
                Arbitraries.strings().ofMaxLength(40),
                Arbitraries.strings().all().ofMaxLength(20),
                Arbitraries.strings().alpha().numeric().withChars("-._/:@").ofMaxLength(70),
                Arbitraries.of("", " ", "python:3.11", "busybox", "ghcr.io/acme/app@sha256:" + "a".repeat(64), "UPPER:1",
                        "100m", "0.5", "1e3", "1E3", "0.5Gi", "-1", "1.2.3", "1Gi", "99999999999999999999Ei", "1e", "+1", ".5",
                        "Always", "Never", "IfNotPresent", "OnFailure", "public", "protected", "Exists", "Equal", "NoSchedule",
                        "Peer not found", "Method not found: x", "Session not found: y", "default", "hypha-secrets",
                        "\u0000", "\n", "é", "\uD83D\uDE00", "a".repeat(300), "x".repeat(70_000)));
    }

    private static Arbitrary<String> key() {
        return Arbitraries.oneOf(Arbitraries.of(FIELDS), Arbitraries.of("cpu", "memory", "nvidia.com/gpu", "requests",
                "limits", "key", "operator", "value", "effect", "secret", "PATH", "HYPHA_TOKEN", "A"), text());
    }

    /** A value for a known field: usually well formed for it, sometimes anything. */
    static Arbitrary<Object> fieldValue(String field) {
        Arbitrary<Object> plausible = switch (field) {
            case "type" -> Arbitraries.of(TYPES).map(t -> (Object) t);
            case "image" -> Arbitraries.of("python:3.11", "busybox:1", "docker.io/library/python:3", "ghcr.io/a/b:1")
                    .map(s -> (Object) s);
            case "command", "args" -> text().list().ofMaxSize(5).map(l -> (Object) l);
            case "env", "node_selector", "labels" -> Arbitraries.maps(key(), text()).ofMaxSize(4).map(m -> (Object) m);
            case "resources" -> Arbitraries.maps(Arbitraries.of("requests", "limits", "gpu"),
                    Arbitraries.maps(Arbitraries.of("cpu", "memory", "nvidia.com/gpu", "ephemeral-storage", "x"),
                            Arbitraries.oneOf(text().map(s -> (Object) s), anyValue(0))).ofMaxSize(3).map(m -> (Object) m))
                    .ofMaxSize(2).map(m -> (Object) m);
            case "timeout", "backoff_limit", "service_timeout" -> Arbitraries.longs().between(-10, 1_000_000).map(l -> (Object) l);
            case "tolerations" -> Arbitraries.maps(Arbitraries.of("key", "operator", "value", "effect", "tolerationSeconds", "x"),
                    anyValue(1)).ofMaxSize(4).list().ofMaxSize(3).map(l -> (Object) l);
            case "wait_for_service" -> Arbitraries.of(true, false).map(b -> (Object) b);
            case "secret_env" -> Arbitraries.maps(key(), Arbitraries.maps(Arbitraries.of("secret", "key", "x"), text())
                    .ofMaxSize(3).map(m -> (Object) m)).ofMaxSize(3).map(m -> (Object) m);
            default -> text().map(s -> (Object) s);
        };
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(3, plausible), net.jqwik.api.Tuple.of(1, anyValue(2)));
    }

    /** A manifest: a few known fields with values, and now and then an unknown field or deep nesting. */
    public static Arbitrary<Map<String, Object>> manifests() {
        return manifests(3000);
    }

    /** Manifests whose deep values nest at most {@code maxDepth} levels. */
    public static Arbitrary<Map<String, Object>> manifests(int maxDepth) {
        Arbitrary<Map<String, Object>> known = Arbitraries.of(FIELDS).set().ofMaxSize(8).flatMap(fields -> {
            Arbitrary<Map<String, Object>> acc = Arbitraries.just(new LinkedHashMap<>());
            for (String f : fields) {
                acc = Combinators.combine(acc, fieldValue(f)).as((m, v) -> {
                    Map<String, Object> copy = new LinkedHashMap<>(m);
                    copy.put(f, v);
                    return copy;
                });
            }
            return acc;
        });
        return Combinators.combine(known, Arbitraries.integers().between(0, 9), key(), anyValue(1), nesting(10, maxDepth))
                .as((m, dice, extraKey, extraValue, deep) -> {
                    Map<String, Object> out = new LinkedHashMap<>(m);
                    if (dice == 0) {
                        out.put(extraKey, extraValue);
                    } else if (dice == 1) {
                        out.put(extraKey, deep);
                    }
                    return out;
                });
    }

    /** A value nested far deeper than any manifest needs (lists in maps in lists...). */
    public static Arbitrary<Object> nesting() {
        return nesting(10, 3000);
    }

    /** Nesting between {@code min} and {@code max} levels. */
    public static Arbitrary<Object> nesting(int min, int max) {
        return Arbitraries.integers().between(min, max).map(depth -> {
            Object v = "leaf";
            for (int i = 0; i < depth; i++) {
                v = i % 2 == 0 ? List.of(v) : Map.of("k", v);
            }
            return v;
        });
    }
}
