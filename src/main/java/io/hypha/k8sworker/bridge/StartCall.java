package io.hypha.k8sworker.bridge;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.Admission;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.JobTypeOp;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.Launched;
import io.hypha.k8sworker.bus.ManifestSize;
import io.hypha.k8sworker.bus.SessionOp;
import io.hypha.k8sworker.bus.StartWatch;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.rpc.CallContext;
import io.hypha.rpc.Invocation;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;

/**
 * {@code start}, in its steps: {@link #parse} the caller's config into a launch request (refusing
 * what this caller may not ask for), {@link #admit} it within the session limits, {@link #launch}
 * its Job through the job type's handler, {@link #await} its pod (and service); the watcher's
 * progress is relayed to the caller's callback meanwhile.
 */
final class StartCall {

    /** A parsed start: what to launch, with which handler, and how the caller named the session. */
    record Start(LaunchRequest request, String type, Progress progress, boolean userLimited, String shownId) {
    }

    private final Vertx vertx;
    private final WorkerConfig config;
    private final BusClient bus;
    private final Callers callers;
    private final JobTypeNames jobTypes;
    private final StartMetrics metrics;

    StartCall(Vertx vertx, WorkerConfig config, BusClient bus, Callers callers, JobTypeNames jobTypes, StartMetrics metrics) {
        this.vertx = vertx;
        this.config = config;
        this.bus = bus;
        this.callers = callers;
        this.jobTypes = jobTypes;
        this.metrics = metrics;
    }

    Object call(Invocation inv) {
        Start start = parse(inv);
        LaunchRequest request = start.request();
        return run(start)
                .compose(started -> request.daemonApp() == null ? Future.succeededFuture(started)
                        // the controller starts daemon apps again whenever it prepares their workspace, having lost
                        // track of the sessions it started before (a Hypha restart): one session per daemon app
                        : bus.request(Addresses.SESSIONS, SessionOp.REPLACE_DAEMON, new JsonObject().put("sessionId", started)
                                .put("workspace", request.workspace()).put("daemonApp", request.daemonApp()))
                                .map(replaced -> started).otherwise(started))
                .map(started -> start.shownId());
    }

    Start parse(Invocation inv) {
        CallContext ctx = callers.require(inv);
        boolean anonymous = Callers.isAnonymous(ctx);
        if (anonymous && !config.callers().allowAnonymous()) {
            // every anonymous connection is a workspace of its own, so no per-workspace or per-user limit could hold them
            throw new WorkerException(ErrorCode.FORBIDDEN, "anonymous callers may not start sessions here (policy.allowAnonymous is false); "
                    + "connect with a token");
        }
        Map<String, Object> cfg = CallArgs.mapArg(inv.arg("config"), "config must be a map such as {\"manifest\": {...}}");
        Map<String, Object> manifest = typeBesideManifest(cfg, CallArgs.mapArg(cfg.get("manifest"),
                cfg.get("manifest") == null ? "config.manifest is required" : "config.manifest must be a map"));
        checkSize(cfg, manifest);
        String type = jobTypes.of(manifest);
        boolean admin = Callers.isAdmin(ctx);
        boolean fromAppController = Callers.isAppController(ctx);
        String workspace = CallArgs.optionalString(cfg, "workspace");
        if (workspace == null) {
            workspace = ctx.workspace();
        } else if (!workspace.equals(ctx.workspace()) && !admin) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "config.workspace: sessions can only be started in the caller's workspace ("
                    + ctx.workspace() + ")");
        }
        String clientId = CallArgs.optionalString(cfg, "client_id");
        String givenId = CallArgs.optionalString(cfg, "id");
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
        if (runsWithOperatorSecrets(type, token) && (anonymous || !callers.mayUseOperatorSecrets(ctx))) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.type: " + type + " runs with the operator's secrets"
                    + (type.equals("conda-worker") ? " unless config.token gives it a token of the caller's own" : "")
                    + "; only admins, the worker's own user and those listed in policy.operatorSecretTypes may start it");
        }
        String serverUrl = CallArgs.optionalString(cfg, "server_url");
        if (serverUrl == null) {
            serverUrl = config.hypha().serverUrlForJobs();
        } else if (!admin && !serverUrl.equals(config.hypha().serverUrlForJobs()) && !serverUrl.equals(config.hypha().serverUrl())) {
            // session pods may get the operator's credentials, which must only ever go to the operator's server
            throw new WorkerException(ErrorCode.FORBIDDEN, "config.server_url: only admins may send sessions to another Hypha server than "
                    + config.hypha().serverUrlForJobs());
        }
        LaunchRequest request = new LaunchRequest(sessionId, Objects.requireNonNullElse(CallArgs.optionalString(cfg, "app_id"), type),
                workspace, clientId, serverUrl, (String) token, ctx.from(), CallArgs.optionalString(cfg, "entry_point"), manifest,
                Callers.principal(ctx), CallArgs.optionalString(cfg, "artifact_id"), CallArgs.optionalString(cfg, "app_files_base_url"),
                fromAppController, daemonApp(fromAppController, manifest, cfg, workspace));
        // the id in the form the caller gave it: Hypha's docs go on to call execute and stop with it
        return new Start(request, type, Progress.of(cfg.get("progress_callback")), !admin, plainId ? clientId : sessionId);
    }

    /** Admits, launches and awaits the session, the watcher's progress relayed meanwhile; the session id. */
    Future<String> run(Start start) {
        LaunchRequest request = start.request();
        Progress progress = start.progress();
        long startedNanos = System.nanoTime();
        MessageConsumer<JsonObject> relay = vertx.eventBus().consumer(Addresses.sessionProgress(request.sessionId()),
                msg -> progress.report(msg.body().getMap()));
        Admission admission = new Admission(request.sessionId(), request.workspace(), request.user(), start.userLimited());
        return relay.completion()
                .compose(v -> admit(admission))
                .compose(v -> launch(start, admission))
                .compose(launched -> {
                    progress.report("info", "Job " + launched.jobName() + " created");
                    return await(request, launched);
                })
                .map(done -> {
                    progress.report("success", "Session " + request.sessionId() + " started");
                    metrics.started(start.type(), "success", startedNanos);
                    return request.sessionId();
                })
                .recover(err -> {
                    WorkerException e = WorkerException.from(err);
                    progress.report("error", e.getMessage());
                    metrics.started(start.type(), e.code().name().toLowerCase(Locale.ROOT), startedNanos);
                    return Future.failedFuture(e);
                })
                .andThen(ar -> relay.unregister());
    }

    private Future<Void> admit(Admission admission) {
        return bus.request(Addresses.SESSIONS, SessionOp.ADMIT, admission.toJson()).mapEmpty();
    }

    private Future<Launched> launch(Start start, Admission admission) {
        return bus.<JsonObject>request(Addresses.jobType(start.type()), JobTypeOp.LAUNCH, start.request().toJson())
                .onFailure(err -> {
                    // a launch that timed out may still create its Job: its place is held until the
                    // informer shows the Job or the admission expires
                    if (!(err instanceof WorkerException we && we.code() == ErrorCode.TIMEOUT)) {
                        bus.send(Addresses.SESSIONS, SessionOp.RELEASE, admission.toJson());
                    }
                })
                .map(Launched::fromJson);
    }

    private Future<JsonObject> await(LaunchRequest request, Launched launched) {
        long waitMs = (config.kubernetes().startTimeoutSeconds() + launched.serviceTimeoutSeconds() + 30) * 1000L;
        StartWatch watch = new StartWatch(request.sessionId(), request.workspace(), launched.waitForService(), launched.serviceId(),
                launched.serviceTimeoutSeconds());
        return bus.request(Addresses.SESSIONS, SessionOp.AWAIT, watch.toJson(), waitMs);
    }

    /** The app a daemon session of the app controller belongs to (its artifact), else null. */
    private static String daemonApp(boolean fromAppController, Map<String, Object> manifest, Map<String, Object> cfg, String workspace) {
        if (!fromAppController || !Boolean.TRUE.equals(manifest.get("daemon"))) {
            return null;
        }
        String artifact = CallArgs.optionalString(cfg, "artifact_id");
        String app = CallArgs.optionalString(cfg, "app_id");
        return artifact != null ? artifact : app == null ? null : workspace + "/" + app;
    }

    /** policy.maxManifestBytes over the manifest and the caller's strings that go into the Job or its Secret. */
    private void checkSize(Map<String, Object> cfg, Map<String, Object> manifest) {
        Map<String, Object> extras = new LinkedHashMap<>();
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
            Map<String, Object> withType = new LinkedHashMap<>(manifest);
            withType.put("type", t);
            return withType;
        }
        if (!t.equals(inner)) {
            throw WorkerException.invalid("config.type ('" + WorkerException.shown(t) + "') and manifest.type ('"
                    + WorkerException.shown(String.valueOf(inner)) + "') differ");
        }
        return manifest;
    }

    private static String randomSuffix() {
        String alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            sb.append(alphabet.charAt(ThreadLocalRandom.current().nextInt(alphabet.length())));
        }
        return sb.toString();
    }
}
