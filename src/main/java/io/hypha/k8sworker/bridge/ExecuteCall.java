package io.hypha.k8sworker.bridge;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.rpc.CallContext;
import io.hypha.rpc.Invocation;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Hypha's execute: the script runs in the session's pod through pods/exec, as a plain command
 * when it is one (so images without a shell work), else with {@code config.shell -c}.
 */
final class ExecuteCall {

    /** Words a command made only of these runs without a shell, as Hypha's own worker runs simple commands. */
    private static final Pattern PLAIN_COMMAND = Pattern.compile("[A-Za-z0-9_./=:,+@%-]+(\\s+[A-Za-z0-9_./=:,+@%-]+)*");
    private static final List<String> CONFIG_FIELDS = List.of("timeout", "container", "shell");

    private final WorkerConfig.Policy policy;
    private final BusClient bus;
    private final Callers callers;

    ExecuteCall(WorkerConfig.Policy policy, BusClient bus, Callers callers) {
        this.policy = policy;
        this.bus = bus;
        this.callers = callers;
    }

    Object call(Invocation inv) {
        CallContext ctx = callers.require(inv);
        if (!policy.allowExecute()) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "execute is turned off on this worker (policy.allowExecute is false)");
        }
        String sessionId = CallArgs.sessionIdArg(inv);
        if (!(inv.arg("script") instanceof String script) || script.isBlank()) {
            throw WorkerException.invalid("script must be a non-empty string");
        }
        if (script.getBytes(StandardCharsets.UTF_8).length > policy.maxManifestBytes()) {
            throw WorkerException.invalid("script is longer than policy.maxManifestBytes (" + policy.maxManifestBytes() + " bytes)");
        }
        Map<String, Object> cfg = inv.arg("config") == null ? Map.of()
                : CallArgs.mapArg(inv.arg("config"), "config must be a map such as {\"timeout\": 30}");
        for (String key : cfg.keySet()) {
            if (!CONFIG_FIELDS.contains(key)) {
                throw WorkerException.invalid("config." + WorkerException.shown(key) + ": unknown field for execute (expected timeout, container, shell)");
            }
        }
        Integer timeout = CallArgs.count(cfg.get("timeout"), "config.timeout");
        if (timeout != null && (timeout < 1 || timeout > 3600)) {
            throw WorkerException.invalid("config.timeout must be between 1 and 3600 seconds, got " + timeout);
        }
        String container = CallArgs.requiredOr(cfg, "container", SessionMeta.MAIN_CONTAINER);
        if (!container.equals(SessionMeta.MAIN_CONTAINER)) {
            throw WorkerException.invalid("config.container: sessions here have one container, '" + SessionMeta.MAIN_CONTAINER + "'");
        }
        String shell = CallArgs.requiredOr(cfg, "shell", "/bin/sh");
        if (!shell.matches("/[A-Za-z0-9_./-]{1,255}")) {
            throw WorkerException.invalid("config.shell must be an absolute path such as /bin/sh");
        }
        List<String> command = PLAIN_COMMAND.matcher(script.strip()).matches() ? List.of(script.strip().split("\\s+"))
                : List.of(shell, "-c", script);
        Progress progress = Progress.of(inv.arg("progress_callback"));
        JsonObject body = Callers.sessionRequest(ctx).session(sessionId).toJson().put("command", new JsonArray(command))
                .put("timeoutSeconds", timeout == null ? 30 : timeout).put("maxBytes", policy.maxExecuteOutputBytes());
        progress.report("info", "Executing command in session " + sessionId);
        return bus.<JsonObject>request(Addresses.SESSIONS, SessionOp.EXEC, body).map(res -> {
            Map<String, Object> result = result(res);
            boolean ok = "ok".equals(result.get("status"));
            progress.report(ok ? "success" : "error", ok ? "Command executed successfully"
                    : String.valueOf(((Map<?, ?>) result.get("error")).get("evalue")));
            return (Object) result;
        }).onFailure(err -> progress.report("error", err.getMessage()));
    }

    /** Hypha's return shape: {status, outputs: [{type: stream, name, text}], error: {ename, evalue, traceback}}. */
    static Map<String, Object> result(JsonObject res) {
        String stdout = stripTrailingNewlines(res.getString("stdout", ""));
        String stderr = stripTrailingNewlines(res.getString("stderr", ""));
        List<Object> outputs = new ArrayList<>();
        if (!stdout.isEmpty()) {
            outputs.add(Map.of("type", "stream", "name", "stdout", "text", stdout));
        }
        if (!stderr.isEmpty()) {
            outputs.add(Map.of("type", "stream", "name", "stderr", "text", stderr));
        }
        Map<String, Object> result = new LinkedHashMap<>();
        Integer code = res.getInteger("exitCode");
        boolean timedOut = res.getBoolean("timedOut", false);
        result.put("status", !timedOut && (code == null || code == 0) ? "ok" : "error");
        result.put("outputs", outputs);
        if (res.getBoolean("truncated", false)) {
            result.put("truncated", true);
        }
        if (timedOut) {
            String message = "Command execution timed out";
            result.put("error", Map.of("ename", "TimeoutError", "evalue", message, "traceback", List.of(message)));
        } else if (code != null && code != 0) {
            String message = "Command failed with return code " + code;
            result.put("error", Map.of("ename", "CommandError", "evalue", message,
                    "traceback", List.of(stderr.isEmpty() ? message : stderr)));
        }
        return result;
    }

    private static String stripTrailingNewlines(String s) {
        int end = s.length();
        while (end > 0 && s.charAt(end - 1) == '\n') {
            end--;
        }
        return s.substring(0, end);
    }
}
