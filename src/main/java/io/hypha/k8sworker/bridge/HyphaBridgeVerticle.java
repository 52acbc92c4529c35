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
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.CompileRequest;
import io.hypha.k8sworker.bus.Health;
import io.hypha.k8sworker.bus.HealthOp;
import io.hypha.k8sworker.bus.HyphaOp;
import io.hypha.k8sworker.bus.JobTypeOp;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.Launched;
import io.hypha.k8sworker.bus.ManifestSize;
import io.hypha.k8sworker.bus.ServiceWait;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.StartWatch;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
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
import io.vertx.core.eventbus.MessageConsumer;
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
    private BusClient bus;
    private boolean stopping;

    public HyphaBridgeVerticle(WorkerConfig config, List<String> jobTypes) {
        this.config = config;
        this.jobTypes = List.copyOf(jobTypes);
        this.logCalls = new CallerRateLimit(config.logs().ratePerSecond(), config.logs().burst(), System::nanoTime);
    }

    @Override
    public Future<?> start() {
        bus = new BusClient(vertx);
        consumer = vertx.eventBus().consumer(Addresses.HYPHA, new OperationHandlers()
                .on(HyphaOp.AWAIT_SERVICE, body -> awaitService(ServiceWait.fromJson(body)))
                .on(HealthOp.CHECK, body -> Health.answer(connected(), new JsonObject().put("connected", connected()))));
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
                .setSendRate(h.sendRatePerSecond(), h.sendBurst(), 10_000)
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
                    if (state == HyphaClient.ConnectionState.CLOSED && !stopping && client == c) {
                        // the client gave up (e.g. the server refused its reconnection): start over with
                        // a new connection rather than stay unregistered until someone restarts the worker
                        LOG.warn("the connection to Hypha ended ({}); connecting again", c.closeCause() == null ? "closed"
                                : c.closeCause().getMessage());
                        client = null;
                        retry(2);
                    }
                });
                LOG.info("registered {} (job types {}) as {}", h.serviceId(), jobTypes, registered.result());
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
        if (client == null) {
            return consumer.unregister();
        }
        // unregister first so that Hypha stops routing calls here; the Jobs keep running
        return client.unregisterService(config.hypha().serviceId())
                .otherwiseEmpty()
                .compose(v -> client.disconnect())
                .compose(v -> consumer.unregister());
    }

    /** Ready: connected, the worker service registered, and not leaving. */
    private boolean connected() {
        return !stopping && client != null && client.state() == HyphaClient.ConnectionState.CONNECTED;
    }

    private Future<JsonObject> awaitService(ServiceWait wait) {
        if (client == null) {
            return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE, "not connected to Hypha"));
        }
        return client.waitForService(wait.serviceId(), Duration.ofMillis(wait.timeoutMs()))
                .map(info -> new JsonObject().put("id", String.valueOf(info.get("id"))))
                .recover(err -> Future.failedFuture(new WorkerException(ErrorCode.TIMEOUT, err.getMessage())));
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
                // the app controller hands this URL (and the app's files under it) to the apps it starts here: the one pods reach
                .property("use_local_url", config.hypha().serverUrlForJobs())
                .function(RpcFunction.of("start", callerErrors(this::start))
                        .param("config", "{manifest: {...}} from a direct caller, or the app controller's worker config", "object")
                        .description("Start a session: create its Job and wait until its pod runs (or its service registers). Returns the session id."))
                .function(RpcFunction.of("stop", callerErrors(this::stop)).param("session_id", "session id", "string")
                        .description("Stop a session: delete its Job and pods."))
                .function(RpcFunction.of("get_logs", callerErrors(this::getLogs)).param("session_id", "session id", "string")
                        .optionalParam("type", null, "stdout, info, error or progress", "string").optionalParam("offset", 0L)
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
                .function(RpcFunction.of("execute", callerErrors(this::execute)).param("session_id", "session id", "string")
                        .param("script", "a command, or a shell script (run with config.shell)", "string")
                        .optionalParam("config", null, "timeout (seconds, default 30), container (main), shell (/bin/sh)", "object")
                        .optionalParam("progress_callback", null, "called with {type, message} as the command starts and ends", null)
                        .description("Run a command in the session's running pod (pods/exec); returns {status, outputs, error}."))
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
        boolean anonymous = isAnonymous(ctx);
        if (anonymous && !config.callers().allowAnonymous()) {
            // every anonymous connection is a workspace of its own, so no per-workspace or per-user limit could hold them
            throw new WorkerException(ErrorCode.FORBIDDEN, "anonymous callers may not start sessions here (policy.allowAnonymous is false); "
                    + "connect with a token");
        }
        if (!(pydanticValue(inv.arg("config")) instanceof Map<?, ?> raw)) {
            throw WorkerException.invalid("config must be a map such as {\"manifest\": {...}}");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> cfg = (Map<String, Object>) raw;
        if (!(pydanticValue(cfg.get("manifest")) instanceof Map<?, ?> manifestRaw)) {
            throw WorkerException.invalid(cfg.get("manifest") == null ? "config.manifest is required"
                    : "config.manifest must be a map");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> manifest = typeBesideManifest(cfg, (Map<String, Object>) manifestRaw);
        checkSize(cfg, manifest);
        String type = jobType(manifest);
        boolean admin = isAdmin(ctx);
        boolean fromAppController = admin && APP_CONTROLLER_WORKSPACE.equals(ctx.workspace());
        String workspace = optionalString(cfg, "workspace");
        if (workspace == null) {
            workspace = ctx.workspace();
        } else if (!workspace.equals(ctx.workspace()) && !admin) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "config.workspace: sessions can only be started in the caller's workspace ("
                    + ctx.workspace() + ")");
        }
        String clientId = optionalString(cfg, "client_id");
        String givenId = optionalString(cfg, "id");
        // Hypha's app controller passes "<workspace>/<client_id>"; Hypha's docs a plain id such as "my-app-session",
        // which names the session's client in the caller's workspace: either way the session stays in that workspace
        boolean plainId = givenId != null && !givenId.contains("/");
        if (givenId != null) {
            String idClient = plainId ? givenId : givenId.substring(givenId.indexOf('/') + 1);
            if (!plainId && !givenId.substring(0, givenId.indexOf('/')).equals(workspace)) {
                throw WorkerException.invalid("config.id must be <workspace>/<client_id> or a plain id, in workspace " + workspace);
            }
            if (clientId == null) {
                clientId = idClient;
            } else if (!clientId.equals(idClient)) {
                throw WorkerException.invalid("config.id and config.client_id name different clients ('" + idClient + "', '" + clientId + "')");
            }
        }
        if (clientId == null) {
            clientId = "k8s-" + randomSuffix();
        } else if (!clientId.matches("[A-Za-z0-9_-]{1,128}")) {
            throw WorkerException.invalid((givenId != null ? "config.id" : "config.client_id") + " must be letters, digits, '_' and '-'"
                    + (givenId != null ? " (after an optional <workspace>/)" : ""));
        }
        String sessionId = workspace + "/" + clientId;
        Object token = cfg.get("token");
        if (token != null && !(token instanceof String)) {
            throw WorkerException.invalid("config.token must be a string");
        }
        if (runsWithOperatorSecrets(type, token) && (anonymous || !mayUseOperatorSecrets(ctx, admin))) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.type: " + type + " runs with the operator's secrets"
                    + (type.equals("conda-worker") ? " unless config.token gives it a token of the caller's own" : "")
                    + "; only admins, the worker's own user and those listed in policy.operatorSecretTypes may start it");
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
                clientId, serverUrl, (String) token, ctx.from(), optionalString(cfg, "entry_point"), manifest, principal(ctx),
                optionalString(cfg, "artifact_id"), optionalString(cfg, "app_files_base_url"), fromAppController,
                daemonApp(fromAppController, manifest, cfg, workspace));
        // the id in the form the caller gave it: Hypha's docs go on to call execute and stop with it
        String shownId = plainId ? clientId : sessionId;
        return startSession(request, type, progress, !admin)
                .compose(started -> request.daemonApp() == null ? Future.succeededFuture(started)
                        // the controller starts daemon apps again whenever it prepares their workspace, having lost
                        // track of the sessions it started before (a Hypha restart): one session per daemon app
                        : sessions(SessionOp.REPLACE_DAEMON, new JsonObject().put("sessionId", started)
                                .put("workspace", request.workspace()).put("daemonApp", request.daemonApp()))
                                .map(replaced -> started).otherwise(started))
                .map(started -> shownId);
    }

    /** The app a daemon session of the app controller belongs to (its artifact), else null. */
    private static String daemonApp(boolean fromAppController, Map<String, Object> manifest, Map<String, Object> cfg, String workspace) {
        if (!fromAppController || !Boolean.TRUE.equals(manifest.get("daemon"))) {
            return null;
        }
        String artifact = optionalString(cfg, "artifact_id");
        String app = optionalString(cfg, "app_id");
        return artifact != null ? artifact : app == null ? null : workspace + "/" + app;
    }

    /** policy.maxManifestBytes over the manifest and the caller's strings that go into the Job or its Secret. */
    private void checkSize(Map<String, Object> cfg, Map<String, Object> manifest) {
        Map<String, Object> extras = new java.util.LinkedHashMap<>();
        for (String key : List.of("app_id", "entry_point", "token", "artifact_id", "app_files_base_url")) {
            extras.put("config." + key, cfg.get(key));
        }
        ManifestSize.check("config.manifest", manifest, extras, config.policy().maxManifestBytes());
    }

    /**
     * claude-agent always gets the agent Secret's ANTHROPIC_API_KEY; conda-worker gets the operator's
     * Hypha token unless the caller gives one. Whoever drives such a pod can read what it holds.
     */
    private static boolean runsWithOperatorSecrets(String type, Object callerToken) {
        return type.equals("claude-agent") || type.equals("conda-worker") && callerToken == null;
    }

    private boolean mayUseOperatorSecrets(CallContext ctx, boolean admin) {
        WorkerConfig.Callers callers = config.callers();
        HyphaClient own = client;
        // a caller's workspace is only as sure as Hypha's token scopes (see docs/reliability.md): operators who do not rely
        // on it turn ownWorkspace off, leave allowedWorkspaces empty and list users, whose ids the server stamps
        return admin || isOperator(ctx)
                || callers.operatorSecretOwnWorkspace() && own != null && ctx.workspace().equals(own.workspace())
                || callers.operatorSecretWorkspaces().contains(ctx.workspace())
                || principal(ctx) != null && callers.operatorSecretUsers().contains(principal(ctx));
    }

    /**
     * The user a call is from, for per-user limits and lists: a token a user generates in Hypha
     * carries a new random id and the generating user as its {@code parent} (kept through every
     * generation), so counting by id alone would let each generated token start a fresh quota.
     */
    static String principal(CallContext ctx) {
        Object parent = ctx.user() == null ? null : ctx.user().get("parent");
        return parent instanceof String p && !p.isBlank() ? p : ctx.userId();
    }

    /**
     * The caller is the user the worker itself logged in as (or a token that user generated). User ids
     * are stamped by the server from the token's signature; a caller's workspace is not as sure (see
     * docs/reliability.md), so the worker's own workspace alone never makes a caller its operator.
     */
    private boolean isOperator(CallContext ctx) {
        HyphaClient own = client;
        if (own == null || own.connectionInfo() == null || isAnonymous(ctx)) {
            return false;
        }
        Map<String, Object> user = own.connectionInfo().user();
        Object parent = user == null ? null : user.get("parent");
        String operator = parent instanceof String p && !p.isBlank() ? p : own.connectionInfo().userId();
        return operator != null && operator.equals(principal(ctx));
    }

    /** Hypha's anonymous users: is_anonymous, the "anonymous" role, or no user id to count sessions by. */
    private static boolean isAnonymous(CallContext ctx) {
        return ctx.isAnonymous() || ctx.roles().contains("anonymous") || ctx.userId() == null || ctx.userId().isBlank();
    }

    private Future<String> startSession(LaunchRequest request, String type, RemoteMethod progress, boolean userLimited) {
        String sessionId = request.sessionId();
        long startedNanos = System.nanoTime();
        MessageConsumer<JsonObject> relay = vertx.eventBus().consumer(Addresses.sessionProgress(sessionId), msg -> report(progress, msg.body()));
        Admission admission = new Admission(sessionId, request.workspace(), request.user(), userLimited);
        return relay.completion()
                .compose(v -> bus.request(Addresses.SESSIONS, SessionOp.ADMIT, admission.toJson()))
                .compose(admitted -> bus.<JsonObject>request(Addresses.jobType(type), JobTypeOp.LAUNCH, request.toJson())
                        .onFailure(err -> {
                            // a launch that timed out may still create its Job: its place is held until the
                            // informer shows the Job or the admission expires
                            if (!(err instanceof WorkerException we && we.code() == ErrorCode.TIMEOUT)) {
                                bus.send(Addresses.SESSIONS, SessionOp.RELEASE, admission.toJson());
                            }
                        }))
                .compose(reply -> {
                    Launched l = Launched.fromJson(reply);
                    report(progress, new JsonObject().put("type", "info").put("message", "Job " + l.jobName() + " created"));
                    long waitMs = (config.kubernetes().startTimeoutSeconds() + l.serviceTimeoutSeconds() + 30) * 1000L;
                    StartWatch watch = new StartWatch(sessionId, request.workspace(), l.waitForService(), l.serviceId(),
                            l.serviceTimeoutSeconds());
                    return bus.<JsonObject>request(Addresses.SESSIONS, SessionOp.AWAIT, watch.toJson(), waitMs);
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
        return sessions(SessionOp.STOP, caller(ctx).session(sessionIdArg(inv))).map(r -> null);
    }

    private Object getLogs(Invocation inv) {
        CallContext ctx = requireContext(inv);
        // per user, or per client for anonymous callers (each of their connections is a new user);
        // admins (the app controller, acting for every user of server apps) are not limited
        String caller = isAnonymous(ctx) ? "client " + ctx.from() : "user " + principal(ctx);
        if (!isAdmin(ctx) && !logCalls.tryAcquire(caller)) {
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
        Integer offset = count(inv.arg("offset"), "offset");
        SessionRequest req = caller(ctx).session(sessionIdArg(inv)).logs((String) type, offset == null ? 0 : offset,
                count(inv.arg("limit"), "limit"));
        return sessions(SessionOp.LOGS, req).map(r -> ((JsonObject) r).getMap());
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
        return sessions(SessionOp.FOLLOW_LOGS, caller(ctx).session(sessionIdArg(inv)))
                .map(r -> new FollowedLog(bus, ((JsonObject) r).getString("follow")));
    }

    private Object listSessions(Invocation inv) {
        CallContext ctx = requireContext(inv);
        return sessions(SessionOp.LIST, caller(ctx).workspace(inv.stringArg("workspace")))
                .map(r -> ((JsonArray) r).getList());
    }

    private Object getSessionInfo(Invocation inv) {
        CallContext ctx = requireContext(inv);
        return sessions(SessionOp.GET, caller(ctx).session(sessionIdArg(inv)))
                .map(r -> ((JsonObject) r).getMap());
    }

    private Object compile(Invocation inv) {
        CallContext ctx = requireContext(inv);
        if (!(pydanticValue(inv.arg("manifest")) instanceof Map<?, ?> raw)) {
            throw WorkerException.invalid("manifest must be a map");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> manifest = (Map<String, Object>) raw;
        ManifestSize.check("manifest", manifest, Map.of(), config.policy().maxManifestBytes());
        String type = jobType(manifest);
        Object files = inv.arg("files");
        boolean fromAppController = isAdmin(ctx) && APP_CONTROLLER_WORKSPACE.equals(ctx.workspace());
        return bus.<JsonObject>request(Addresses.jobType(type), JobTypeOp.COMPILE, new CompileRequest(manifest, fromAppController).toJson())
                .map(reply -> {
                    JsonObject merged = new JsonObject(new java.util.LinkedHashMap<>(manifest)).mergeIn(reply);
                    List<Object> out = new ArrayList<>();
                    out.add(merged.getMap());
                    out.add(files == null ? List.of() : files);
                    return out;
                });
    }

    /** Words a command made only of these runs without a shell, as Hypha's own worker runs simple commands. */
    private static final java.util.regex.Pattern PLAIN_COMMAND = java.util.regex.Pattern.compile("[A-Za-z0-9_./=:,+@%-]+(\\s+[A-Za-z0-9_./=:,+@%-]+)*");

    /**
     * Hypha's execute: the script runs in the session's pod through pods/exec, as a plain command
     * when it is one (so images without a shell work), else with {@code config.shell -c}.
     */
    private Object execute(Invocation inv) {
        CallContext ctx = requireContext(inv);
        WorkerConfig.Policy policy = config.policy();
        if (!policy.allowExecute()) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "execute is turned off on this worker (policy.allowExecute is false)");
        }
        String sessionId = sessionIdArg(inv);
        if (!(inv.arg("script") instanceof String script) || script.isBlank()) {
            throw WorkerException.invalid("script must be a non-empty string");
        }
        if (script.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > policy.maxManifestBytes()) {
            throw WorkerException.invalid("script is longer than policy.maxManifestBytes (" + policy.maxManifestBytes() + " bytes)");
        }
        Object rawConfig = pydanticValue(inv.arg("config"));
        if (rawConfig != null && !(rawConfig instanceof Map<?, ?>)) {
            throw WorkerException.invalid("config must be a map such as {\"timeout\": 30}");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> cfg = rawConfig == null ? Map.of() : (Map<String, Object>) rawConfig;
        for (String key : cfg.keySet()) {
            if (!List.of("timeout", "container", "shell").contains(key)) {
                throw WorkerException.invalid("config." + WorkerException.shown(key) + ": unknown field for execute (expected timeout, container, shell)");
            }
        }
        Integer timeout = count(cfg.get("timeout"), "config.timeout");
        if (timeout != null && (timeout < 1 || timeout > 3600)) {
            throw WorkerException.invalid("config.timeout must be between 1 and 3600 seconds, got " + timeout);
        }
        String container = execString(cfg, "container", io.hypha.k8sworker.kube.SessionMeta.MAIN_CONTAINER);
        if (!container.equals(io.hypha.k8sworker.kube.SessionMeta.MAIN_CONTAINER)) {
            throw WorkerException.invalid("config.container: sessions here have one container, '"
                    + io.hypha.k8sworker.kube.SessionMeta.MAIN_CONTAINER + "'");
        }
        String shell = execString(cfg, "shell", "/bin/sh");
        if (!shell.matches("/[A-Za-z0-9_./-]{1,255}")) {
            throw WorkerException.invalid("config.shell must be an absolute path such as /bin/sh");
        }
        List<String> command = PLAIN_COMMAND.matcher(script.strip()).matches() ? List.of(script.strip().split("\\s+"))
                : List.of(shell, "-c", script);
        RemoteMethod progress = inv.arg("progress_callback") instanceof RemoteMethod m ? m : null;
        JsonObject body = caller(ctx).session(sessionId).toJson().put("command", new JsonArray(command))
                .put("timeoutSeconds", timeout == null ? 30 : timeout).put("maxBytes", policy.maxExecuteOutputBytes());
        report(progress, new JsonObject().put("type", "info").put("message", "Executing command in session " + sessionId));
        return sessions(SessionOp.EXEC, body).map(r -> {
            JsonObject res = (JsonObject) r;
            Map<String, Object> result = executeResult(res);
            boolean ok = "ok".equals(result.get("status"));
            report(progress, new JsonObject().put("type", ok ? "success" : "error").put("message", ok ? "Command executed successfully"
                    : String.valueOf(((Map<?, ?>) result.get("error")).get("evalue"))));
            return (Object) result;
        }).onFailure(err -> report(progress, new JsonObject().put("type", "error").put("message", err.getMessage())));
    }

    /** Hypha's return shape: {status, outputs: [{type: stream, name, text}], error: {ename, evalue, traceback}}. */
    static Map<String, Object> executeResult(JsonObject res) {
        String stdout = stripTrailingNewlines(res.getString("stdout", ""));
        String stderr = stripTrailingNewlines(res.getString("stderr", ""));
        List<Object> outputs = new ArrayList<>();
        if (!stdout.isEmpty()) {
            outputs.add(Map.of("type", "stream", "name", "stdout", "text", stdout));
        }
        if (!stderr.isEmpty()) {
            outputs.add(Map.of("type", "stream", "name", "stderr", "text", stderr));
        }
        Map<String, Object> result = new java.util.LinkedHashMap<>();
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

    private static String execString(Map<String, Object> cfg, String key, String def) {
        Object v = cfg.get(key);
        if (v == null) {
            return def;
        }
        if (!(v instanceof String s) || s.isBlank()) {
            throw WorkerException.invalid("config." + key + " must be a non-empty string");
        }
        return s;
    }

    private Object shutdown(Invocation inv) {
        CallContext ctx = requireContext(inv);
        // an admin of the worker's workspace who is also the worker's own user: any user can mint a token with
        // admin scope on any workspace (docs/reliability.md), so the workspace permission alone proves nothing,
        // and a token the operator handed out with less than admin permission must not do it either
        boolean operatorAsAdmin = isOperator(ctx) && "a".equals(ctx.permissionIn(client.workspace()));
        if (!isAdmin(ctx) && !operatorAsAdmin) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "shutdown is only for admins and the worker's own user");
        }
        return sessions(SessionOp.STOP_ALL, caller(ctx)).map(r -> ((JsonObject) r).getMap());
    }

    private Future<Object> sessions(SessionOp op, SessionRequest request) {
        return sessions(op, request.toJson());
    }

    private Future<Object> sessions(SessionOp op, JsonObject request) {
        return bus.request(Addresses.SESSIONS, op, request);
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

    /** A session id as given, or a plain one (Hypha's docs' form) taken as a client of the caller's own workspace. */
    private static String sessionIdArg(Invocation inv) {
        Object id = inv.arg("session_id");
        if (!(id instanceof String s) || s.isBlank()) {
            throw WorkerException.invalid("session_id must be a non-empty string");
        }
        return s.contains("/") ? s : inv.context().workspace() + "/" + s;
    }

    /**
     * A pydantic model as hypha-rpc sends it ({@code _rtype: pydantic_model}, its fields in
     * {@code _rvalue}): the app controller's ApplicationManifest, a caller's WorkerConfig. Read as
     * the plain map of its fields.
     */
    static Object pydanticValue(Object v) {
        if (v instanceof Map<?, ?> m && "pydantic_model".equals(m.get("_rtype")) && m.get("_rvalue") instanceof Map<?, ?> fields) {
            return fields;
        }
        return v;
    }

    /**
     * Hypha's call form puts {@code type} beside the manifest ({@code {"type": "k8s-pod", "manifest": {...}}});
     * it counts as manifest.type, and the two may not disagree.
     */
    private static Map<String, Object> typeBesideManifest(Map<String, Object> cfg, Map<String, Object> manifest) {
        Object outer = cfg.get("type");
        if (outer == null) {
            return manifest;
        }
        if (!(outer instanceof String t)) {
            throw WorkerException.invalid("config.type must be a string");
        }
        Object inner = manifest.get("type");
        if (inner == null) {
            Map<String, Object> withType = new java.util.LinkedHashMap<>(manifest);
            withType.put("type", t);
            return withType;
        }
        if (!t.equals(inner)) {
            throw WorkerException.invalid("config.type ('" + WorkerException.shown(t) + "') and manifest.type ('"
                    + WorkerException.shown(String.valueOf(inner)) + "') differ");
        }
        return manifest;
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
