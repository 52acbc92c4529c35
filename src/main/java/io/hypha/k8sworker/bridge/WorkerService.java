package io.hypha.k8sworker.bridge;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.CompileRequest;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.JobTypeOp;
import io.hypha.k8sworker.bus.ManifestSize;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.rpc.CallContext;
import io.hypha.rpc.Invocation;
import io.hypha.rpc.RpcFunction;
import io.hypha.rpc.ServiceDefinition;
import io.hypha.rpc.Visibility;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The worker service as Hypha callers see it: its functions, each turned into requests to the
 * job-type handlers and the service-watcher, with the caller's identity checked first.
 */
final class WorkerService {

    private final WorkerConfig config;
    private final BusClient bus;
    private final Callers callers;
    private final JobTypeNames jobTypes;
    private final StartCall start;
    private final ExecuteCall execute;
    private final CallerRateLimit logCalls;

    WorkerService(WorkerConfig config, BusClient bus, Callers callers, JobTypeNames jobTypes, StartCall start) {
        this.config = config;
        this.bus = bus;
        this.callers = callers;
        this.jobTypes = jobTypes;
        this.start = start;
        this.execute = new ExecuteCall(config.policy(), bus, callers);
        this.logCalls = new CallerRateLimit(config.logs().ratePerSecond(), config.logs().burst(), System::nanoTime);
    }

    /** The service under {@code serviceId}: the configured id, or a replica's (the functions are the same). */
    ServiceDefinition definition(String serviceId) {
        String namespace = config.kubernetes().namespace();
        Visibility visibility = Visibility.fromWire(config.hypha().visibility());
        return ServiceDefinition.builder(serviceId)
                .name("Kubernetes Job Worker (namespace: " + namespace + ")")
                .type("server-app-worker")
                .description("Launches Kubernetes Jobs in namespace " + namespace + " for Hypha apps and callers; job types: "
                        + String.join(", ", jobTypes.names()))
                .visibility(visibility)
                // Hypha's app controller calls workers from the public workspace; only admins may (see Callers.require).
                // The manager accepts authorized workspaces on protected services only; a public one lets everyone in.
                .authorizedWorkspaces(visibility == Visibility.PROTECTED ? List.of(Callers.APP_CONTROLLER_WORKSPACE) : List.of())
                .requireContext(true)
                .property("supported_types", jobTypes.names())
                // the app controller hands this URL (and the app's files under it) to the apps it starts here: the one pods reach
                .property("use_local_url", config.hypha().serverUrlForJobs())
                .function(RpcFunction.of("start", CallArgs.callerErrors(start::call))
                        .param("config", "{manifest: {...}} from a direct caller, or the app controller's worker config", "object")
                        .description("Start a session: create its Job and wait until its pod runs (or its service registers). Returns the session id."))
                .function(RpcFunction.of("stop", CallArgs.callerErrors(this::stop)).param("session_id", "session id", "string")
                        .description("Stop a session: delete its Job and pods."))
                .function(RpcFunction.of("get_logs", CallArgs.callerErrors(this::getLogs)).param("session_id", "session id", "string")
                        .optionalParam("type", null, "stdout, info, error or progress", "string").optionalParam("offset", 0L)
                        .optionalParam("limit", null, "page size", "integer")
                        .optionalParam("follow", false, "stream the container's output as it is written: a generator of lines", "boolean")
                        .description("Container output and Kubernetes events of a session; with follow, a generator of the output's lines"
                                + " as the container writes them, from its last lines on, until the pod ends or the generator is closed."))
                .function(RpcFunction.of("list_sessions", CallArgs.callerErrors(this::listSessions))
                        .optionalParam("workspace", null, "workspace filter", "string")
                        .description("Sessions of the caller's workspace."))
                .function(RpcFunction.of("get_session_info", CallArgs.callerErrors(this::getSessionInfo))
                        .param("session_id", "session id", "string")
                        .description("Status and details of one session."))
                .function(RpcFunction.of("compile", CallArgs.callerErrors(this::compile)).param("manifest", "app manifest", "object")
                        .optionalParam("files", null, "app files", "array").optionalParam("config", null, "install config", "object")
                        .description("Validate a manifest and fill its defaults; returns [manifest, files]."))
                .function(RpcFunction.of("execute", CallArgs.callerErrors(execute::call)).param("session_id", "session id", "string")
                        .param("script", "a command, or a shell script (run with config.shell)", "string")
                        .optionalParam("config", null, "timeout (seconds, default 30), container (main), shell (/bin/sh)", "object")
                        .optionalParam("progress_callback", null, "called with {type, message} as the command starts and ends", null)
                        .description("Run a command in the session's running pod (pods/exec); returns {status, outputs, error}."))
                .function(RpcFunction.of("shutdown", CallArgs.callerErrors(this::shutdown))
                        .description("Stop every session of this worker (admins of the worker's workspace only)."))
                .build();
    }

    private Object stop(Invocation inv) {
        CallContext ctx = callers.require(inv);
        return sessions(SessionOp.STOP, Callers.sessionRequest(ctx).session(CallArgs.sessionIdArg(inv))).map(r -> null);
    }

    private Object getLogs(Invocation inv) {
        CallContext ctx = callers.require(inv);
        // per user, or per client for anonymous callers (each of their connections is a new user);
        // admins (the app controller, acting for every user of server apps) are not limited
        String caller = Callers.isAnonymous(ctx) ? "client " + ctx.from() : "user " + Callers.principal(ctx);
        if (!Callers.isAdmin(ctx) && !logCalls.tryAcquire(caller)) {
            WorkerConfig.Logs logs = config.logs();
            throw new WorkerException(ErrorCode.LIMIT_REACHED, "get_logs: too many calls from this caller; at most " + logs.burst()
                    + " in a row, then " + logs.ratePerSecond() + " per second (logs.burst, logs.ratePerSecond); try again shortly");
        }
        Object type = inv.arg("type");
        if (type != null && !(type instanceof String)) {
            throw WorkerException.invalid("type must be a string: stdout, info, error or progress");
        }
        Object follow = inv.arg("follow");
        if (follow != null && !(follow instanceof Boolean)) {
            throw WorkerException.invalid("follow must be a boolean");
        }
        if (Boolean.TRUE.equals(follow)) {
            return followLogs(ctx, inv, (String) type);
        }
        Integer offset = CallArgs.count(inv.arg("offset"), "offset");
        SessionRequest req = Callers.sessionRequest(ctx).session(CallArgs.sessionIdArg(inv)).logs((String) type,
                offset == null ? 0 : offset, CallArgs.count(inv.arg("limit"), "limit"));
        return sessions(SessionOp.LOGS, req).map(r -> ((JsonObject) r).getMap());
    }

    /** get_logs(follow=True): the container's output as a generator of lines, read as it is written. */
    private Object followLogs(CallContext ctx, Invocation inv, String type) {
        if (type != null && !"stdout".equals(type)) {
            throw WorkerException.invalid("type: a followed log is the container's output (stdout); events are not followed");
        }
        Integer offset = CallArgs.count(inv.arg("offset"), "offset");
        if ((offset != null && offset != 0) || inv.arg("limit") != null) {
            throw WorkerException.invalid("offset and limit page a get_logs without follow; a followed log starts from its last lines (logs.tailLines)");
        }
        return sessions(SessionOp.FOLLOW_LOGS, Callers.sessionRequest(ctx).session(CallArgs.sessionIdArg(inv)))
                .map(r -> new FollowedLog(bus, ((JsonObject) r).getString("follow")));
    }

    private Object listSessions(Invocation inv) {
        CallContext ctx = callers.require(inv);
        return sessions(SessionOp.LIST, Callers.sessionRequest(ctx).workspace(inv.stringArg("workspace")))
                .map(r -> ((JsonArray) r).getList());
    }

    private Object getSessionInfo(Invocation inv) {
        CallContext ctx = callers.require(inv);
        return sessions(SessionOp.GET, Callers.sessionRequest(ctx).session(CallArgs.sessionIdArg(inv)))
                .map(r -> ((JsonObject) r).getMap());
    }

    private Object compile(Invocation inv) {
        CallContext ctx = callers.require(inv);
        Map<String, Object> manifest = CallArgs.mapArg(inv.arg("manifest"), "manifest must be a map");
        ManifestSize.check("manifest", manifest, Map.of(), config.policy().maxManifestBytes());
        String type = jobTypes.of(manifest);
        Object files = inv.arg("files");
        return bus.<JsonObject>request(Addresses.jobType(type), JobTypeOp.COMPILE,
                        new CompileRequest(manifest, Callers.isAppController(ctx)).toJson())
                .map(reply -> {
                    JsonObject merged = new JsonObject(new LinkedHashMap<>(manifest)).mergeIn(reply);
                    List<Object> out = new ArrayList<>();
                    out.add(merged.getMap());
                    out.add(files == null ? List.of() : files);
                    return out;
                });
    }

    private Object shutdown(Invocation inv) {
        CallContext ctx = callers.require(inv);
        if (!callers.mayShutDown(ctx)) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "shutdown is only for admins and the worker's own user");
        }
        return sessions(SessionOp.STOP_ALL, Callers.sessionRequest(ctx)).map(r -> ((JsonObject) r).getMap());
    }

    private Future<Object> sessions(SessionOp op, SessionRequest request) {
        return bus.request(Addresses.SESSIONS, op, request.toJson());
    }
}
