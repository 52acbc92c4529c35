package io.hypha.k8sworker.bridge;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.Admission;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.Launched;
import io.hypha.k8sworker.bus.ServiceWait;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.StartWatch;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.launcher.JobLauncherVerticle;
import io.hypha.k8sworker.launcher.LaunchRequest;
import io.hypha.k8sworker.launcher.ManifestSize;
import io.hypha.k8sworker.watcher.ServiceWatcherVerticle;
import io.hypha.rpc.CallContext;
import io.hypha.rpc.ConnectOptions;
import io.hypha.rpc.HyphaClient;
import io.hypha.rpc.HyphaException;
import io.hypha.rpc.Invocation;
import io.hypha.rpc.RemoteMethod;
import io.hypha.rpc.RpcFunction;
import io.hypha.rpc.ServiceDefinition;
import io.hypha.rpc.Visibility;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Owns the Hypha connection: registers the worker service, turns its calls into event-bus requests
 * to the job-type handlers and the service-watcher, relays their progress to the caller's callback,
 * and maps failures to caller-facing errors in one place.
 */
public final class HyphaBridgeVerticle extends VerticleBase {

    private static final Logger LOG = LoggerFactory.getLogger(HyphaBridgeVerticle.class);
    /** Where Hypha's app controller ({@code public/server-apps}) runs. */
    static final String APP_CONTROLLER_WORKSPACE = "public";

    private final WorkerConfig config;
    private final List<String> jobTypes;
    /**
     * Longest wait between two attempts to reach Hypha, in the client's reconnection and in the
     * bridge's own retries: after an outage the worker is back within this much of the server.
     */
    static final Duration MAX_RECONNECT_DELAY = Duration.ofSeconds(10);

    private final StartMetrics metrics = new StartMetrics();
    private final CallerRateLimit logCalls;
    private HyphaClient client;
    private MessageConsumer<JsonObject> consumer;
    private boolean stopping;

    public HyphaBridgeVerticle(WorkerConfig config, List<String> jobTypes) {
        this.config = config;
        this.jobTypes = List.copyOf(jobTypes);
        this.logCalls = new CallerRateLimit(config.logs().ratePerSecond(), config.logs().burst(), System::nanoTime);
    }

    @Override
    public Future<?> start() {
        consumer = vertx.eventBus().consumer(Addresses.HYPHA, this::handleHyphaRequest);
        return consumer.completion().compose(v -> connect(1));
    }

    /**
     * Connects and registers the worker service. An unreachable server is retried with backoff (the
     * worker stays up, not ready, meanwhile); a refusal at the first attempt, such as a bad token,
     * fails the start-up, while one after the worker once reached the server is retried too, as
     * only a change outside the worker can fix it.
     */
    private Future<Void> connect(int attempt) {
        WorkerConfig.Hypha h = config.hypha();
        ConnectOptions options = new ConnectOptions()
                .setServerUrl(h.serverUrl())
                .setToken(blankToNull(h.token()))
                .setWorkspace(blankToNull(h.workspace()))
                .setClientId(blankToNull(h.clientId()))
                .setMethodTimeout(Duration.ofSeconds(h.methodTimeoutSeconds()))
                .setMaxReconnectDelay(MAX_RECONNECT_DELAY)
                // the worker never calls its own services: a call from itself can only be a caller's trick
                .setServeOwnCalls(false);
        Promise<Void> done = Promise.promise();
        HyphaClient.connect(vertx, options).onComplete(connected -> {
            if (connected.failed()) {
                if (attempt == 1 && !(connected.cause() instanceof HyphaException.Refused)) {
                    // an unreachable server is waited for; the worker stays up and not ready meanwhile
                    LOG.warn("cannot reach Hypha at {} ({}); retrying in the background", h.serverUrl(), connected.cause().getMessage());
                    done.complete();
                    retry(2);
                } else {
                    done.fail(connected.cause());
                }
                return;
            }
            HyphaClient c = connected.result();
            c.registerService(workerService()).onComplete(registered -> {
                if (registered.failed()) {
                    // a refused registration (bad settings, missing permission) will not fix itself
                    c.disconnect();
                    done.fail(new IllegalStateException("Hypha refused to register the worker service: "
                            + registered.cause().getMessage(), registered.cause()));
                    return;
                }
                client = c;
                c.connectionStateHandler(state -> {
                    publishStatus();
                    if (state == HyphaClient.ConnectionState.CLOSED && !stopping && client == c) {
                        // the client gave up (e.g. the server refused its reconnection): start over with
                        // a new connection rather than stay unregistered until someone restarts the worker
                        LOG.warn("the connection to Hypha ended ({}); connecting again", c.closeCause() == null ? "closed"
                                : c.closeCause().getMessage());
                        client = null;
                        publishStatus();
                        retry(2);
                    }
                });
                LOG.info("registered {} (job types {}) as {}", h.serviceId(), jobTypes, registered.result());
                publishStatus();
                done.complete();
            });
        });
        return done.future();
    }

    private void retry(int attempt) {
        long delayMs = Math.min(MAX_RECONNECT_DELAY.toMillis(), 1000L << Math.min(5, attempt - 2));
        vertx.setTimer(delayMs, t -> {
            if (stopping) {
                return;
            }
            connect(attempt).onFailure(err -> {
                // a refusal after the worker once ran (a rotated token, a server still loading the
                // workspace) may yet be fixed from outside: keep trying, not ready, rather than idle
                // unregistered until someone restarts the pod
                if (err instanceof HyphaException.Refused || err instanceof IllegalStateException) {
                    LOG.error("Hypha refused the worker: {}; trying again", err.getMessage());
                } else {
                    LOG.warn("still cannot reach Hypha: {}", err.getMessage());
                }
                retry(attempt + 1);
            });
        });
    }

    @Override
    public Future<?> stop() {
        stopping = true;
        vertx.eventBus().publish(Addresses.HYPHA_STATUS, new JsonObject().put("connected", false));
        if (client == null) {
            return consumer.unregister();
        }
        // unregister first so that Hypha stops routing calls here; the Jobs keep running
        return client.unregisterService(config.hypha().serviceId())
                .otherwiseEmpty()
                .compose(v -> client.disconnect())
                .compose(v -> consumer.unregister());
    }

    private void publishStatus() {
        vertx.eventBus().publish(Addresses.HYPHA_STATUS, new JsonObject()
                .put("connected", client != null && client.state() == HyphaClient.ConnectionState.CONNECTED));
    }

    private void handleHyphaRequest(Message<JsonObject> message) {
        String op = message.headers().get(Addresses.Headers.OPERATION);
        if (!ServiceWatcherVerticle.HYPHA_OP_AWAIT_SERVICE.equals(op)) {
            message.fail(ErrorCode.INVALID_REQUEST.code(), "unknown operation " + op);
            return;
        }
        ServiceWait wait = ServiceWait.fromJson(message.body());
        if (client == null) {
            message.fail(ErrorCode.UNAVAILABLE.code(), "not connected to Hypha");
            return;
        }
        client.waitForService(wait.serviceId(), Duration.ofMillis(wait.timeoutMs()))
                .onSuccess(info -> message.reply(new JsonObject().put("id", String.valueOf(info.get("id")))))
                .onFailure(err -> message.fail(ErrorCode.TIMEOUT.code(), err.getMessage()));
    }

    // ------------------------------------------------------------------ the worker service

    private ServiceDefinition workerService() {
        String namespace = config.kubernetes().namespace();
        Visibility visibility = Visibility.fromWire(config.hypha().visibility());
        return ServiceDefinition.builder(config.hypha().serviceId())
                .name("Kubernetes Job Worker (namespace: " + namespace + ")")
                .type("server-app-worker")
                .description("Launches Kubernetes Jobs in namespace " + namespace + " for Hypha apps and callers; job types: "
                        + String.join(", ", jobTypes))
                .visibility(visibility)
                // Hypha's app controller calls workers from the public workspace; only admins may (see requireContext).
                // The manager accepts authorized workspaces on protected services only; a public one lets everyone in.
                .authorizedWorkspaces(visibility == Visibility.PROTECTED ? List.of(APP_CONTROLLER_WORKSPACE) : List.of())
                .requireContext(true)
                .property("supported_types", jobTypes)
                .function(RpcFunction.of("start", callerErrors(this::start))
                        .param("config", "{manifest: {...}} from a direct caller, or the app controller's worker config", "object")
                        .description("Start a session: create its Job and wait until its pod runs (or its service registers). Returns the session id."))
                .function(RpcFunction.of("stop", callerErrors(this::stop)).param("session_id", "session id", "string")
                        .description("Stop a session: delete its Job and pods."))
                .function(RpcFunction.of("get_logs", callerErrors(this::getLogs)).param("session_id", "session id", "string")
                        .optionalParam("type", null, "stdout, info or error", "string").optionalParam("offset", 0L)
                        .optionalParam("limit", null, "page size", "integer")
                        .optionalParam("follow", false, "stream the container's output as it is written: a generator of lines", "boolean")
                        .description("Container output and Kubernetes events of a session; with follow, a generator of the output's lines"
                                + " as the container writes them, from its last lines on, until the pod ends or the generator is closed."))
                .function(RpcFunction.of("list_sessions", callerErrors(this::listSessions)).optionalParam("workspace", null, "workspace filter", "string")
                        .description("Sessions of the caller's workspace."))
                .function(RpcFunction.of("get_session_info", callerErrors(this::getSessionInfo)).param("session_id", "session id", "string")
                        .description("Status and details of one session."))
                .function(RpcFunction.of("compile", callerErrors(this::compile)).param("manifest", "app manifest", "object")
                        .optionalParam("files", null, "app files", "array").optionalParam("config", null, "install config", "object")
                        .description("Validate a manifest and fill its defaults; returns [manifest, files]."))
                .function(RpcFunction.of("shutdown", callerErrors(this::shutdown))
                        .description("Stop every session of this worker (admins of the worker's workspace only)."))
                .build();
    }

    /**
     * Argument errors (a missing argument, one of the wrong type) answered as the caller's error:
     * their message only, without the Java stack trace the RPC layer would send with it.
     */
    static RpcFunction.Body callerErrors(RpcFunction.Body body) {
        return inv -> {
            try {
                return body.call(inv);
            } catch (IllegalArgumentException e) {
                throw WorkerException.invalid(e.getMessage());
            }
        };
    }

    private Object start(Invocation inv) {
        CallContext ctx = requireContext(inv);
        if (!(inv.arg("config") instanceof Map<?, ?> raw)) {
            throw WorkerException.invalid("config must be a map such as {\"manifest\": {...}}");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> cfg = (Map<String, Object>) raw;
        if (!(cfg.get("manifest") instanceof Map<?, ?> manifestRaw)) {
            throw WorkerException.invalid(cfg.get("manifest") == null ? "config.manifest is required"
                    : "config.manifest must be a map");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> manifest = (Map<String, Object>) manifestRaw;
        checkSize(cfg, manifest);
        String type = jobType(manifest);
        boolean admin = isAdmin(ctx);
        String workspace = optionalString(cfg, "workspace");
        if (workspace == null) {
            workspace = ctx.workspace();
        } else if (!workspace.equals(ctx.workspace()) && !admin) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "config.workspace: sessions can only be started in the caller's workspace ("
                    + ctx.workspace() + ")");
        }
        String clientId = optionalString(cfg, "client_id");
        if (clientId == null) {
            clientId = "k8s-" + randomSuffix();
        } else if (!clientId.matches("[A-Za-z0-9_-]{1,128}")) {
            throw WorkerException.invalid("config.client_id must be letters, digits, '_' and '-'");
        }
        String sessionId = optionalString(cfg, "id");
        if (sessionId == null) {
            sessionId = workspace + "/" + clientId;
        } else if (!sessionId.equals(workspace + "/" + clientId)) {
            throw WorkerException.invalid("config.id must be <workspace>/<client_id> (" + workspace + "/" + clientId + ")");
        }
        Object token = cfg.get("token");
        if (token != null && !(token instanceof String)) {
            throw WorkerException.invalid("config.token must be a string");
        }
        String serverUrl = optionalString(cfg, "server_url");
        if (serverUrl == null) {
            serverUrl = config.hypha().serverUrlForJobs();
        } else if (!admin && !serverUrl.equals(config.hypha().serverUrlForJobs()) && !serverUrl.equals(config.hypha().serverUrl())) {
            // session pods may get the operator's credentials, which must only ever go to the operator's server
            throw new WorkerException(ErrorCode.FORBIDDEN, "config.server_url: only admins may send sessions to another Hypha server than "
                    + config.hypha().serverUrlForJobs());
        }
        Object callback = cfg.get("progress_callback");
        RemoteMethod progress = callback instanceof RemoteMethod m ? m : null;
        LaunchRequest request = new LaunchRequest(sessionId, Objects.requireNonNullElse(optionalString(cfg, "app_id"), type), workspace,
                clientId, serverUrl, (String) token, ctx.from(), optionalString(cfg, "entry_point"), manifest);
        return startSession(request, type, progress);
    }

    /** policy.maxManifestBytes over the manifest and the caller's strings that go into the Job or its Secret. */
    private void checkSize(Map<String, Object> cfg, Map<String, Object> manifest) {
        Map<String, Object> extras = new java.util.LinkedHashMap<>();
        for (String key : List.of("app_id", "entry_point", "token")) {
            extras.put("config." + key, cfg.get(key));
        }
        ManifestSize.check("config.manifest", manifest, extras, config.policy().maxManifestBytes());
    }

    private Future<String> startSession(LaunchRequest request, String type, RemoteMethod progress) {
        String sessionId = request.sessionId();
        long startedNanos = System.nanoTime();
        MessageConsumer<JsonObject> relay = vertx.eventBus().consumer(Addresses.sessionProgress(sessionId), msg -> report(progress, msg.body()));
        Admission admission = new Admission(sessionId, request.workspace());
        return relay.completion()
                .compose(v -> vertx.eventBus().request(Addresses.SESSIONS, admission.toJson(),
                        new DeliveryOptions().addHeader(Addresses.Headers.OPERATION, ServiceWatcherVerticle.OP_ADMIT)))
                .compose(admitted -> vertx.eventBus().<JsonObject>request(Addresses.jobType(type), request.toJson(),
                                new DeliveryOptions().addHeader(Addresses.Headers.OPERATION, JobLauncherVerticle.OP_LAUNCH).setSendTimeout(60_000))
                        .onFailure(err -> {
                            // a launch that timed out may still create its Job: its place is held until the
                            // informer shows the Job or the admission expires
                            if (!(err instanceof ReplyException re && re.failureType() == ReplyFailure.TIMEOUT)) {
                                vertx.eventBus().send(Addresses.SESSIONS, admission.toJson(),
                                        new DeliveryOptions().addHeader(Addresses.Headers.OPERATION, ServiceWatcherVerticle.OP_RELEASE));
                            }
                        }))
                .compose(reply -> {
                    Launched l = Launched.fromJson(reply.body());
                    report(progress, new JsonObject().put("type", "info").put("message", "Job " + l.jobName() + " created"));
                    long waitMs = (config.kubernetes().startTimeoutSeconds() + l.serviceTimeoutSeconds() + 30) * 1000L;
                    StartWatch watch = new StartWatch(sessionId, request.workspace(), l.waitForService(), l.serviceId(),
                            l.serviceTimeoutSeconds());
                    return vertx.eventBus().<JsonObject>request(Addresses.SESSIONS, watch.toJson(),
                            new DeliveryOptions().addHeader(Addresses.Headers.OPERATION, ServiceWatcherVerticle.OP_AWAIT).setSendTimeout(waitMs));
                })
                .map(done -> {
                    report(progress, new JsonObject().put("type", "success").put("message", "Session " + sessionId + " started"));
                    metrics.started(type, "success", startedNanos);
                    return sessionId;
                })
                .recover(err -> {
                    WorkerException e = WorkerException.from(err);
                    report(progress, new JsonObject().put("type", "error").put("message", e.getMessage()));
                    metrics.started(type, e.code().name().toLowerCase(Locale.ROOT), startedNanos);
                    return Future.failedFuture(e);
                })
                .andThen(ar -> relay.unregister());
    }

    private static void report(RemoteMethod progress, JsonObject message) {
        if (progress != null) {
            progress.call(message.getMap()).onFailure(err -> LOG.debug("progress callback failed: {}", err.getMessage()));
        }
    }

    private Object stop(Invocation inv) {
        CallContext ctx = requireContext(inv);
        return sessions(ServiceWatcherVerticle.OP_STOP, caller(ctx).session(sessionIdArg(inv))).map(r -> null);
    }

    private Object getLogs(Invocation inv) {
        CallContext ctx = requireContext(inv);
        // per user, or per client for anonymous callers (each of their connections is a new user);
        // admins (the app controller, acting for every user of server apps) are not limited
        String caller = ctx.userId() != null && !ctx.isAnonymous() ? "user " + ctx.userId() : "client " + ctx.from();
        if (!isAdmin(ctx) && !logCalls.tryAcquire(caller)) {
            WorkerConfig.Logs logs = config.logs();
            throw new WorkerException(ErrorCode.LIMIT_REACHED, "get_logs: too many calls from this caller; at most " + logs.burst()
                    + " in a row, then " + logs.ratePerSecond() + " per second (logs.burst, logs.ratePerSecond); try again shortly");
        }
        Object type = inv.arg("type");
        if (type != null && !(type instanceof String)) {
            throw WorkerException.invalid("type must be a string: stdout, info or error");
        }
        Object follow = inv.arg("follow");
        if (follow != null && !(follow instanceof Boolean)) {
            throw WorkerException.invalid("follow must be a boolean");
        }
        if (Boolean.TRUE.equals(follow)) {
            return followLogs(ctx, inv, (String) type);
        }
        Integer offset = count(inv.arg("offset"), "offset");
        SessionRequest req = caller(ctx).session(sessionIdArg(inv)).logs((String) type, offset == null ? 0 : offset,
                count(inv.arg("limit"), "limit"));
        return sessions(ServiceWatcherVerticle.OP_LOGS, req).map(r -> ((JsonObject) r).getMap());
    }

    /** get_logs(follow=True): the container's output as a generator of lines, read as it is written. */
    private Object followLogs(CallContext ctx, Invocation inv, String type) {
        if (type != null && !"stdout".equals(type)) {
            throw WorkerException.invalid("type: a followed log is the container's output (stdout); events are not followed");
        }
        Integer offset = count(inv.arg("offset"), "offset");
        if ((offset != null && offset != 0) || inv.arg("limit") != null) {
            throw WorkerException.invalid("offset and limit page a get_logs without follow; a followed log starts from its last lines (logs.tailLines)");
        }
        return sessions(ServiceWatcherVerticle.OP_FOLLOW_LOGS, caller(ctx).session(sessionIdArg(inv)))
                .map(r -> new FollowedLog(vertx, ((JsonObject) r).getString("follow")));
    }

    private Object listSessions(Invocation inv) {
        CallContext ctx = requireContext(inv);
        return sessions(ServiceWatcherVerticle.OP_LIST, caller(ctx).workspace(inv.stringArg("workspace")))
                .map(r -> ((JsonArray) r).getList());
    }

    private Object getSessionInfo(Invocation inv) {
        CallContext ctx = requireContext(inv);
        return sessions(ServiceWatcherVerticle.OP_GET, caller(ctx).session(sessionIdArg(inv)))
                .map(r -> ((JsonObject) r).getMap());
    }

    private Object compile(Invocation inv) {
        requireContext(inv);
        if (!(inv.arg("manifest") instanceof Map<?, ?> raw)) {
            throw WorkerException.invalid("manifest must be a map");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> manifest = (Map<String, Object>) raw;
        ManifestSize.check("manifest", manifest, Map.of(), config.policy().maxManifestBytes());
        String type = jobType(manifest);
        Object files = inv.arg("files");
        return vertx.eventBus().<JsonObject>request(Addresses.jobType(type), new JsonObject(manifest),
                        new DeliveryOptions().addHeader(Addresses.Headers.OPERATION, JobLauncherVerticle.OP_COMPILE))
                .recover(err -> Future.failedFuture(WorkerException.from(err)))
                .map(reply -> {
                    JsonObject merged = new JsonObject(new java.util.LinkedHashMap<>(manifest)).mergeIn(reply.body());
                    List<Object> out = new ArrayList<>();
                    out.add(merged.getMap());
                    out.add(files == null ? List.of() : files);
                    return out;
                });
    }

    private Object shutdown(Invocation inv) {
        CallContext ctx = requireContext(inv);
        String own = client.workspace();
        boolean workspaceAdmin = own.equals(ctx.workspace()) && ("a".equals(ctx.permissionIn(own)) || isAdmin(ctx));
        if (!workspaceAdmin) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "shutdown is only for admins of workspace " + own);
        }
        return sessions(ServiceWatcherVerticle.OP_STOP_ALL, caller(ctx)).map(r -> ((JsonObject) r).getMap());
    }

    private Future<Object> sessions(String op, SessionRequest request) {
        return vertx.eventBus().request(Addresses.SESSIONS, request.toJson(),
                        new DeliveryOptions().addHeader(Addresses.Headers.OPERATION, op).setSendTimeout(60_000))
                .map(m -> m.body())
                .recover(err -> Future.failedFuture(WorkerException.from(err)));
    }

    // ------------------------------------------------------------------ helpers

    private String jobType(Map<String, Object> manifest) {
        Object type = manifest.getOrDefault("type", "k8s-job");
        if (!(type instanceof String t)) {
            throw WorkerException.invalid("manifest.type must be a string");
        }
        if (!jobTypes.contains(t)) {
            throw WorkerException.invalid("manifest.type: unsupported job type '" + t + "' (supported: " + String.join(", ", jobTypes) + ")");
        }
        return t;
    }

    private CallContext requireContext(Invocation inv) {
        CallContext ctx = inv.context();
        if (ctx == null || ctx.workspace() == null) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "the caller's identity is missing");
        }
        if (APP_CONTROLLER_WORKSPACE.equals(ctx.workspace()) && !isAdmin(ctx)
                && !APP_CONTROLLER_WORKSPACE.equals(client.workspace())) {
            // anyone may join the public workspace: from there, only the server's own services are served
            throw new WorkerException(ErrorCode.FORBIDDEN, "callers from the public workspace must be admins");
        }
        return ctx;
    }

    /** Admins (the server's root user, the app controller) may act on any workspace's sessions. */
    private static boolean isAdmin(CallContext ctx) {
        return ctx.roles().contains("admin");
    }

    private static SessionRequest caller(CallContext ctx) {
        return SessionRequest.of(ctx.workspace(), isAdmin(ctx));
    }

    private static String sessionIdArg(Invocation inv) {
        Object id = inv.arg("session_id");
        if (!(id instanceof String s) || s.isBlank()) {
            throw WorkerException.invalid("session_id must be a non-empty string");
        }
        return s;
    }

    /**
     * An optional count (a page offset or size): a whole number from 0 to 2^31-1. Anything else is
     * refused rather than cast, which would wrap 2^32 to 0 and a long to a negative int.
     */
    static Integer count(Object value, String name) {
        if (value == null) {
            return null;
        }
        boolean whole = value instanceof Long || value instanceof Integer || value instanceof java.math.BigInteger
                || value instanceof Double d && Double.isFinite(d) && d == Math.rint(d);
        if (whole) {
            java.math.BigDecimal v = new java.math.BigDecimal(value.toString());
            if (v.signum() >= 0 && v.compareTo(java.math.BigDecimal.valueOf(Integer.MAX_VALUE)) <= 0) {
                return v.intValueExact();
            }
        }
        throw WorkerException.invalid(name + " must be a whole number from 0 to " + Integer.MAX_VALUE);
    }

    private static String optionalString(Map<String, Object> cfg, String key) {
        Object v = cfg.get(key);
        if (v == null) {
            return null;
        }
        if (!(v instanceof String s)) {
            throw WorkerException.invalid("config." + key + " must be a string");
        }
        return s.isBlank() ? null : s;
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    private static String randomSuffix() {
        String alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            sb.append(alphabet.charAt(ThreadLocalRandom.current().nextInt(alphabet.length())));
        }
        return sb.toString().toLowerCase(Locale.ROOT);
    }
}
