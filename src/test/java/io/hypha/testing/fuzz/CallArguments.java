package io.hypha.testing.fuzz;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Tuple;

/**
 * Calls of the worker service with arbitrary arguments: a method, positional arguments and keyword
 * arguments, each usually of the right name and sometimes of the right shape. Values stay within
 * what the Python client can pack (msgpack integers up to 2^64-1, nesting well under its limit).
 */
public final class CallArguments {

    private CallArguments() {
    }

    public record Call(String method, List<Object> args, Map<String, Object> kwargs) {
    }

    static final List<String> METHODS = List.of("start", "compile", "stop", "get_logs", "get_session_info", "list_sessions", "execute");

    /** Session ids: plausible, foreign, empty, huge, with the client's retry words. */
    public static Arbitrary<Object> sessionIds(String workspace, String existing) {
        return Arbitraries.oneOf(
                Arbitraries.of(existing, workspace + "/nope", "other-ws/x", "", " ", "/", workspace + "/",
                        "Session not found", workspace + "/Peer", "x".repeat(100_000), workspace + "/" + "y".repeat(5000))
                        .map(s -> (Object) s),
                Manifests.text().map(s -> (Object) s),
                Manifests.anyValue(2));
    }

    /** Integers around the edges of int and long, and things that are not integers. */
    static Arbitrary<Object> counts() {
        return Arbitraries.oneOf(
                Arbitraries.of(0L, 1L, 2L, -1L, (long) Integer.MAX_VALUE, (long) Integer.MAX_VALUE + 1, (long) Integer.MIN_VALUE,
                        Long.MAX_VALUE, Long.MIN_VALUE, 1L << 32).map(l -> (Object) l),
                Arbitraries.longs().map(l -> (Object) l),
                Arbitraries.of(0.5, 1.0, -0.0, 1e300).map(d -> (Object) d),
                Manifests.anyValue(1));
    }

    /** A manifest for start: never waiting for a service that no one registers. */
    static Arbitrary<Object> startManifest() {
        // a runnable manifest with one field changed, so that some starts succeed
        Arbitrary<Object> nearlyValid = Arbitraries.of("command", "args", "env", "resources", "timeout", "backoff_limit",
                "restart_policy", "image_pull_policy", "node_selector", "tolerations", "secret_env").flatMap(f ->
                Manifests.fieldValue(f).map(v -> {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("type", "k8s-job");
                    m.put("image", "busybox:1.36");
                    m.put(f, v);
                    return (Object) m;
                }));
        return Arbitraries.oneOf(nearlyValid, anyManifest());
    }

    private static Arbitrary<Object> anyManifest() {
        return Manifests.manifests(300).map(m -> {
            Map<String, Object> out = new LinkedHashMap<>(m);
            out.remove("wait_for_service");
            return (Object) out;
        });
    }

    static Arbitrary<Object> startConfig() {
        Arbitrary<Map<String, Object>> extras = Arbitraries.maps(Arbitraries.of("workspace", "client_id", "id", "token", "app_id",
                "server_url", "entry_point", "progress_callback", "x"), Arbitraries.oneOf(Manifests.text().map(s -> (Object) s),
                Manifests.anyValue(1))).ofMaxSize(3);
        return Arbitraries.frequencyOf(
                Tuple.of(6, Combinators.combine(startManifest(), extras).as((m, e) -> {
                    Map<String, Object> cfg = new LinkedHashMap<>(e);
                    cfg.put("manifest", m);
                    return (Object) cfg;
                })),
                Tuple.of(1, Manifests.anyValue(2)),
                Tuple.of(1, Manifests.nesting(33, 300).map(n -> (Object) Map.of("manifest", Map.of("env", n)))));
    }

    /** execute's config: Hypha's keys with good and bad values, an unknown key, or anything. */
    static Arbitrary<Object> executeConfig() {
        Arbitrary<Object> value = Arbitraries.oneOf(Arbitraries.of("/bin/sh", "/bin/bash", "main", "sidecar", "sh", "").map(v -> (Object) v),
                counts(), Manifests.anyValue(1));
        return Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.maps(Arbitraries.of("timeout", "container", "shell", "user"), value).ofMaxSize(3)
                        .map(m -> (Object) m)),
                Tuple.of(1, Manifests.anyValue(2)));
    }

    /** Scripts: plain commands, shell, long, and anything. */
    static Arbitrary<Object> scripts() {
        return Arbitraries.oneOf(Arbitraries.of("id -u", "echo hi | wc -c", "", " ", "exit 3", "x".repeat(100_000))
                .map(s -> (Object) s), Manifests.text().map(s -> (Object) s), Manifests.anyValue(1));
    }

    /** The value of a named parameter of a method: usually shaped for it, sometimes anything. */
    static Arbitrary<Object> param(String method, String name, String workspace, String existing) {
        if ("execute".equals(method) && "config".equals(name)) {
            return executeConfig();
        }
        return param(name, workspace, existing);
    }

    /** The value of a named parameter: usually shaped for it, sometimes anything. */
    static Arbitrary<Object> param(String name, String workspace, String existing) {
        return switch (name) {
            case "script" -> scripts();
            case "config" -> startConfig();
            case "manifest" -> Arbitraries.frequencyOf(Tuple.of(5, Manifests.manifests(300).map(m -> (Object) m)),
                    Tuple.of(1, Manifests.anyValue(2)), Tuple.of(1, Manifests.nesting(33, 300)));
            case "session_id" -> sessionIds(workspace, existing);
            case "offset", "limit" -> counts();
            case "type" -> Arbitraries.oneOf(Arbitraries.of("stdout", "info", "error").map(s -> (Object) s), Manifests.anyValue(1));
            case "workspace" -> Arbitraries.oneOf(Arbitraries.of(workspace, "public", "other").map(s -> (Object) s), Manifests.anyValue(1));
            default -> Manifests.anyValue(1);
        };
    }

    static List<String> params(String method) {
        return switch (method) {
            case "start" -> List.of("config");
            case "compile" -> List.of("manifest", "files", "config");
            case "get_logs" -> List.of("session_id", "type", "offset", "limit");
            case "list_sessions" -> List.of("workspace");
            case "execute" -> List.of("session_id", "script", "config");
            default -> List.of("session_id");
        };
    }

    /**
     * A call: some of the method's parameters positionally, some by keyword, sometimes an unknown
     * keyword or one positional argument too many.
     */
    public static Arbitrary<Call> calls(String workspace, String existing) {
        return Arbitraries.of(METHODS).flatMap(method -> {
            List<String> params = params(method);
            Arbitrary<List<Object>> values = Combinators.combine(params.stream().map(p -> param(method, p, workspace, existing)).toList())
                    .as(l -> l);
            return Combinators.combine(values, Arbitraries.integers().between(0, params.size()),
                    Arbitraries.integers().between(0, (1 << params.size()) - 1), Arbitraries.integers().between(0, 9),
                    Manifests.anyValue(1)).as((vals, positional, present, dice, extra) -> {
                        List<Object> args = new java.util.ArrayList<>();
                        Map<String, Object> kwargs = new LinkedHashMap<>();
                        for (int i = 0; i < params.size(); i++) {
                            if (i < positional) {
                                args.add(vals.get(i));
                            } else if ((present & (1 << i)) != 0) {
                                kwargs.put(params.get(i), vals.get(i));
                            }
                        }
                        if (dice == 0) {
                            kwargs.put("unexpected", extra);
                        } else if (dice == 1) {
                            args.add(extra);
                        }
                        return new Call(method, args, kwargs);
                    });
        });
    }
}
