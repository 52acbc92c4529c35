package io.hypha.rpc;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.ContextInternal;

/**
 * A Hypha RPC peer over one WebSocket: it registers services that others call, and calls theirs.
 *
 * <p>Everything runs on one Vert.x event-loop context; public methods may be called from any thread
 * and complete their futures on that context. Nothing here blocks.
 *
 * <pre>{@code
 * HyphaClient client = HyphaClient.connect(vertx, new ConnectOptions()
 *         .setServerUrl("http://127.0.0.1:9527").setToken(token)).toCompletionStage()...;
 * client.registerService(ServiceDefinition.builder("echo")
 *         .function(RpcFunction.of("echo", inv -> inv.arg("x")).param("x")).build());
 * RemoteService svc = client.getService("other-service") ...;
 * svc.call("hello", "world");
 * }</pre>
 */
public final class HyphaClient {

    private static final long SESSION_IDLE_NANOS = TimeUnit.MINUTES.toNanos(10);
    private static final String ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Logger LOG = LoggerFactory.getLogger(HyphaClient.class);

    /** Where the connection stands, for health reporting. */
    public enum ConnectionState { CONNECTED, RECONNECTING, CLOSED }

    /** A handle to undo {@link #on}. */
    @FunctionalInterface
    public interface Registration {
        void remove();
    }

    private final Vertx vertx;
    private final WireValues codec = new WireValues(this);
    private final ChunkedSender chunkedSender = new ChunkedSender(this);
    private final Context context;
    private final ConnectOptions options;
    private final String clientId;
    private WebSocketConnection connection;
    private ConnectionInfo info;
    private String workspace;
    private String managerId;
    private String publicBaseUrl;
    private volatile ConnectionState state = ConnectionState.RECONNECTING;
    private volatile HyphaException closeCause;
    private long gcTimer = -1;

    final Map<String, ServiceDefinition> services = new LinkedHashMap<>();
    /** Interface objects we sent ({@code _rintf}): local services, never registered, each callable by one client only. */
    private final Map<String, ServedInterface> interfaces = new HashMap<>();
    final Map<String, CallSession> sessions = new HashMap<>();
    private final MessageCache messageCache;
    private long cacheSweepTimer = -1;
    private final Map<String, List<Handler<Map<String, Object>>>> listeners = new HashMap<>();
    private final Set<String> subscriptions = new LinkedHashSet<>();
    private final List<Handler<ConnectionState>> stateHandlers = new CopyOnWriteArrayList<>();

    /**
     * A generator of ours held by a consumer: its {@code next} and {@code close} are callbacks of
     * one session, so only that session's target may call them. One item is produced per request.
     */
    final class ServedGenerator {
        final CallSession session;
        final String nextId;
        final String closeId;
        final RpcGenerator source;
        boolean producing;
        boolean finished;
        long idleTimer = -1;

        ServedGenerator(CallSession session, String objectId, RpcGenerator source) {
            this.session = session;
            this.nextId = objectId;
            this.closeId = objectId + ":close";
            this.source = source;
        }

        Future<Object> next() {
            if (finished) {
                return Future.succeededFuture(stopIteration());
            }
            if (producing) {
                return Future.failedFuture(new IllegalStateException("the previous item of this generator is still being produced"));
            }
            producing = true;
            cancelIdleTimer();
            Future<Object> item;
            try {
                item = source.next();
            } catch (RuntimeException e) {
                item = Future.failedFuture(e);
            }
            return item.transform(ar -> {
                producing = false;
                if (ar.failed()) {
                    finish(true);
                    return Future.failedFuture(ar.cause());
                }
                if (ar.result() == RpcGenerator.END) {
                    finish(false);
                    return Future.succeededFuture(stopIteration());
                }
                if (!finished) {
                    armIdleTimer();
                }
                return Future.succeededFuture(ar.result());
            });
        }

        /** Ends the stream: the callbacks go, and the source is closed unless it ended by itself. */
        void finish(boolean closeSource) {
            if (finished) {
                return;
            }
            finished = true;
            cancelIdleTimer();
            session.callbacks.remove(nextId);
            session.callbacks.remove(closeId);
            session.generators.remove(this);
            if (session.callbacks.isEmpty() && session.promise == null) {
                sessions.remove(session.id);
            }
            if (closeSource) {
                try {
                    source.close().onFailure(err -> LOG.debug("closing a generator failed: {}", err.getMessage()));
                } catch (RuntimeException e) {
                    LOG.debug("closing a generator failed: {}", e.toString());
                }
            }
        }

        void armIdleTimer() {
            cancelIdleTimer();
            idleTimer = vertx.setTimer(options.getGeneratorIdleTimeout().toMillis(), t -> {
                idleTimer = -1;
                if (!producing && !finished) {
                    LOG.info("closing a generator {} did not ask from for {} s", session.targetId,
                            options.getGeneratorIdleTimeout().toSeconds());
                    finish(true);
                }
            });
        }

        void cancelIdleTimer() {
            if (idleTimer >= 0) {
                vertx.cancelTimer(idleTimer);
                idleTimer = -1;
            }
        }
    }

    /** How many generators this client serves right now. For tests. */
    int servedGeneratorCount() {
        return sessions.values().stream().mapToInt(s -> s.generators.size()).sum();
    }

    private static Map<String, Object> stopIteration() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_rtype", "stop_iteration");
        return m;
    }

    /** A session that goes takes the generators it serves with it. */
    private void releaseGenerators(CallSession s) {
        for (ServedGenerator g : new ArrayList<>(s.generators)) {
            g.finish(true);
        }
    }

    /** An interface object of ours held by one client, its only allowed caller. */
    private record ServedInterface(String id, String allowedCaller, Map<String, RpcFunction> functions) {
    }


    /** How to answer an incoming call. */
    private record Replier(RemoteMethod resolve, RemoteMethod reject, RemoteMethod heartbeat, double intervalSeconds) {
    }

    private HyphaClient(Vertx vertx, Context context, ConnectOptions options) {
        this.vertx = vertx;
        this.context = context;
        this.options = options;
        this.messageCache = new MessageCache(this, options);
        String id = options.getClientId();
        this.clientId = id != null ? id : "java-" + newId(12);
        if (!clientId.matches("[A-Za-z0-9_-]+")) {
            throw new IllegalArgumentException("clientId must match [A-Za-z0-9_-]+: " + clientId);
        }
    }

    /**
     * Connects, logs in and registers the mandatory {@code built-in} service. Fails with
     * {@link HyphaException.Refused} carrying the server's own reason when the server says no.
     */
    public static Future<HyphaClient> connect(Vertx vertx, ConnectOptions options) {
        HyphaClient client;
        try {
            options.webSocketUrl();
            Context current = Vertx.currentContext();
            Context context = current != null && current.isEventLoopContext() && current.owner() == vertx
                    ? current : vertx.getOrCreateContext();
            if (!context.isEventLoopContext()) {
                context = ((io.vertx.core.internal.VertxInternal) vertx).createEventLoopContext();
            }
            client = new HyphaClient(vertx, context, new ConnectOptions(options));
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
        return client.onLoop(client::start);
    }

    /**
     * Logs in through the server's login service and completes with the token: connects
     * anonymously, starts a login, hands its context (the {@code login_url} for the user) to the
     * callback, waits for the user to log in, and disconnects.
     */
    public static Future<String> login(Vertx vertx, LoginOptions options) {
        return loginCheck(vertx, options, false).map(v -> v == null ? null : v.toString());
    }

    /** As {@link #login}, completing with the user's profile ({@code token}, {@code email}, {@code user_id}, ...). */
    @SuppressWarnings("unchecked")
    public static Future<Map<String, Object>> loginWithProfile(Vertx vertx, LoginOptions options) {
        return loginCheck(vertx, options, true).map(v -> v instanceof Map<?, ?> m ? (Map<String, Object>) m : null);
    }

    @SuppressWarnings("unchecked")
    private static Future<Object> loginCheck(Vertx vertx, LoginOptions options, boolean profile) {
        long timeoutSeconds = Math.max(1, options.getTimeout().toSeconds());
        return connect(vertx, new ConnectOptions().setServerUrl(options.getServerUrl())
                .setMethodTimeout(options.getTimeout()).setReconnect(false)).compose(client -> {
            Future<Object> token = client.getService(options.getLoginServiceId()).compose(svc -> {
                Map<String, Object> startArgs = new LinkedHashMap<>();
                if (options.getWorkspace() != null) {
                    startArgs.put("workspace", options.getWorkspace());
                    startArgs.put("expires_in", options.getExpiresIn());
                }
                return svc.callWithKwargs("start", List.of(), startArgs).compose(started -> {
                    if (!(started instanceof Map<?, ?> context) || !(context.get("key") instanceof String key)) {
                        return Future.failedFuture(new HyphaException("the login service did not start a login: " + started));
                    }
                    Future<?> shown;
                    if (options.getLoginCallback() != null) {
                        shown = options.getLoginCallback().apply((Map<String, Object>) context);
                    } else {
                        LOG.info("Please open your browser and log in at {}", context.get("login_url"));
                        shown = Future.succeededFuture();
                    }
                    // the check waits up to the timeout itself; the call may take a little longer
                    return (shown == null ? Future.succeededFuture() : shown).compose(x -> svc.method("check")
                            .callWithTimeout(options.getTimeout().plusSeconds(30), List.of(key),
                                    Map.of("timeout", timeoutSeconds, "profile", profile)));
                });
            });
            return token.eventually(client::disconnect);
        });
    }

    private Future<HyphaClient> start() {
        connection = new WebSocketConnection(vertx, context, options, clientId, new WebSocketConnection.Listener() {
            @Override
            public void onBinary(Buffer frame) {
                handleFrame(frame);
            }

            @Override
            public Future<Void> onOpen(ConnectionInfo connectionInfo, boolean reconnected) {
                return restore(connectionInfo, reconnected);
            }

            @Override
            public void onLost(String reason) {
                setState(ConnectionState.RECONNECTING);
            }

            @Override
            public void onClosed(HyphaException cause) {
                shutDown(cause);
            }
        });
        gcTimer = vertx.setPeriodic(TimeUnit.MINUTES.toMillis(5), t -> collectIdleSessions());
        long idleMs = options.getMessageCacheIdleTimeout().toMillis();
        cacheSweepTimer = vertx.setPeriodic(Math.max(1000, Math.min(idleMs / 4, 30_000)), t -> messageCache.dropIdleChunkCaches());
        return connection.open().map(i -> this).onFailure(err -> {
            vertx.cancelTimer(gcTimer);
            vertx.cancelTimer(cacheSweepTimer);
            connection.close();
        });
    }

    // ------------------------------------------------------------------ identity and state

    public String clientId() {
        return clientId;
    }

    public String workspace() {
        return workspace;
    }

    /** {@code workspace/client_id}. */
    public String fullClientId() {
        return workspace + "/" + clientId;
    }

    String publicBaseUrl() {
        return publicBaseUrl;
    }

    public ConnectionInfo connectionInfo() {
        return info;
    }

    public ConnectionState state() {
        return state;
    }

    /** Why the connection ended for good (null while it lives): the server's refusal, or the user's disconnect. */
    public HyphaException closeCause() {
        return closeCause;
    }

    /** The latest reconnection token the server gave (refreshed periodically). */
    public String reconnectionToken() {
        return connection.reconnectionToken();
    }

    /** Notified on every change of {@link ConnectionState}, on the client's context. */
    public void connectionStateHandler(Handler<ConnectionState> handler) {
        stateHandlers.add(handler);
    }

    private void setState(ConnectionState next) {
        if (state == next || state == ConnectionState.CLOSED) {
            return;
        }
        state = next;
        for (Handler<ConnectionState> h : stateHandlers) {
            try {
                h.handle(next);
            } catch (RuntimeException e) {
                LOG.warn("connection state handler failed", e);
            }
        }
    }

    // ------------------------------------------------------------------ connection life cycle

    private Future<Void> restore(ConnectionInfo connectionInfo, boolean reconnected) {
        String previousManager = managerId;
        this.info = connectionInfo;
        this.workspace = connectionInfo.workspace();
        this.managerId = connectionInfo.managerId();
        this.publicBaseUrl = connectionInfo.publicBaseUrl();
        if (reconnected && previousManager != null) {
            // calls to the manager of the old connection will never be answered
            failSessions(s -> s.promise != null && s.targetId.equals("*/" + previousManager),
                    "the connection to the server was lost before the reply");
        }
        services.put("built-in", builtInService());
        List<ServiceDefinition> toRegister = new ArrayList<>(services.values());
        Future<Void> chain = Future.succeededFuture();
        for (ServiceDefinition svc : toRegister) {
            chain = chain.compose(v -> managerCall("register_service", List.of(registrationInfo(svc)), Map.of()).mapEmpty());
        }
        if (!subscriptions.isEmpty()) {
            List<String> types = new ArrayList<>(subscriptions);
            chain = chain.compose(v -> managerCall("subscribe", List.of(types), Map.of()).mapEmpty());
        }
        return chain.onSuccess(v -> {
            if (reconnected) {
                LOG.info("restored {} service(s) and {} subscription(s) as {}", toRegister.size(), subscriptions.size(), fullClientId());
            }
            setState(ConnectionState.CONNECTED);
        });
    }

    /**
     * Leaves the server for good: pending calls fail, the server drops our services and tells the
     * workspace that this client disconnected.
     */
    public Future<Void> disconnect() {
        return onLoop(() -> connection.close());
    }

    /** Drops the TCP connection without a close handshake, as a network failure would. For tests. */
    void dropConnection() {
        context.runOnContext(v -> connection.dropAbruptly());
    }

    private void shutDown(HyphaException cause) {
        closeCause = cause;
        setState(ConnectionState.CLOSED);
        vertx.cancelTimer(gcTimer);
        vertx.cancelTimer(cacheSweepTimer);
        failSessions(s -> true, cause.getMessage());
        interfaces.clear();
        messageCache.clear();
    }

    private void failSessions(java.util.function.Predicate<CallSession> which, String reason) {
        for (Iterator<CallSession> it = sessions.values().iterator(); it.hasNext(); ) {
            CallSession s = it.next();
            if (!which.test(s)) {
                continue;
            }
            it.remove();
            cancelTimer(s);
            releaseGenerators(s);
            if (s.promise != null) {
                s.promise.tryFail(new HyphaException.ConnectionClosed(reason + " (" + s.description + ")"));
            }
        }
    }

    private void collectIdleSessions() {
        long now = System.nanoTime();
        // sessions that only hold callbacks (results, fire-and-forget) live until idle for 10 minutes
        List<CallSession> idle = new ArrayList<>();
        for (CallSession s : sessions.values()) {
            if (s.promise == null && now - s.lastActivityNanos > SESSION_IDLE_NANOS) {
                idle.add(s);
            }
        }
        for (CallSession s : idle) {
            sessions.remove(s.id);
            releaseGenerators(s);
        }
    }

    // ------------------------------------------------------------------ services we provide

    /** Registers (or replaces) a service; completes with its full id {@code workspace/client_id:service_id}. */
    public Future<String> registerService(ServiceDefinition service) {
        return onLoop(() -> {
            if ("built-in".equals(service.id())) {
                return Future.failedFuture(new IllegalArgumentException("the built-in service is managed by the client"));
            }
            ServiceDefinition previous = services.put(service.id(), service);
            return managerCall("register_service", List.of(registrationInfo(service)), Map.of())
                    .map(v -> fullClientId() + ":" + service.id())
                    .onFailure(err -> {
                        if (previous == null) {
                            services.remove(service.id());
                        } else {
                            services.put(service.id(), previous);
                        }
                    });
        });
    }

    /** Unregisters one of our services, by short or full id. */
    public Future<Void> unregisterService(String serviceId) {
        return onLoop(() -> {
            String shortId = serviceId.contains(":") ? serviceId.substring(serviceId.lastIndexOf(':') + 1) : serviceId;
            if (!services.containsKey(shortId) || "built-in".equals(shortId)) {
                return Future.failedFuture(new IllegalArgumentException("no service of ours with id " + serviceId));
            }
            return managerCall("unregister_service", List.of(fullClientId() + ":" + shortId), Map.of())
                    .onSuccess(v -> services.remove(shortId))
                    .mapEmpty();
        });
    }

    /**
     * Registers the public {@code probes} service as Python's {@code register_probes} does, e.g.
     * {@code readiness} and {@code liveness} functions: the server answers
     * {@code GET <server>/<workspace>/services/probes/<name>} with what they return.
     */
    public Future<String> registerProbes(Map<String, RpcFunction> probes) {
        ServiceDefinition.Builder b = ServiceDefinition.builder("probes").name("Probes").type("probes")
                .visibility(Visibility.PUBLIC)
                .description("Probes Service, visit " + (publicBaseUrl == null ? "" : publicBaseUrl) + "/" + workspace
                        + "/services/probes for the available probes.");
        probes.forEach(b::member);
        return registerService(b.build());
    }

    private Map<String, Object> registrationInfo(ServiceDefinition svc) {
        Map<String, Object> config = svc.config();
        config.put("workspace", workspace);
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("id", fullClientId() + ":" + svc.id());
        d.put("name", svc.name());
        d.put("type", svc.type());
        d.put("description", svc.description());
        d.put("docs", svc.docs());
        d.put("app_id", "*");
        d.put("config", config);
        Map<String, Object> schema = new LinkedHashMap<>(svc.schema());
        svc.properties().forEach((k, v) -> schema.putIfAbsent(k, Map.of("type", v instanceof Number ? "number" : "string")));
        d.put("service_schema", schema);
        return d;
    }

    /** The descriptor our built-in {@code get_service} returns: config plus encoded members. */
    private Map<String, Object> serviceDescriptor(ServiceDefinition svc) {
        Map<String, Object> config = svc.config();
        config.put("workspace", workspace);
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("id", svc.id());
        d.put("name", svc.name());
        d.put("type", svc.type());
        d.put("description", svc.description());
        d.put("docs", svc.docs());
        d.put("config", config);
        d.putAll(svc.properties());
        d.putAll(encodeMembers(svc.id(), "", svc.members()));
        return d;
    }

    private Map<String, Object> encodeMembers(String serviceId, String prefix, Map<String, Object> members) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : members.entrySet()) {
            String path = prefix + e.getKey();
            Object v = e.getValue();
            if (v instanceof RpcFunction fn) {
                out.put(e.getKey(), codec.servedFunction("services." + serviceId + "." + path, fn));
            } else if (v instanceof Map<?, ?> nested) {
                @SuppressWarnings("unchecked")
                Map<String, Object> m = (Map<String, Object>) nested;
                out.put(e.getKey(), encodeMembers(serviceId, path + ".", m));
            } else {
                out.put(e.getKey(), codec.encode(v, null));
            }
        }
        return out;
    }

    private ServiceDefinition builtInService() {
        Map<String, Object> cache = messageCache.functions();
        return ServiceDefinition.builder("built-in")
                .name("Builtin services for " + fullClientId())
                .type("built-in")
                .visibility(Visibility.PUBLIC)
                .requireContext(true)
                .config("api_version", 3)
                .function(RpcFunction.of("ping", inv -> "pong").param("msg"))
                .function(RpcFunction.of("get_service", this::builtInGetService).param("service_id"))
                .member("message_cache", cache)
                .build();
    }

    /** Whether a client may call a service of ours: protected services only from their workspaces and the manager. */
    boolean mayCall(ServiceDefinition svc, String from, String remoteWs) {
        return svc.visibility() != Visibility.PROTECTED || remoteWs.equals(workspace)
                || svc.authorizedWorkspaces().contains(remoteWs) || from.equals("*/" + managerId);
    }

    private Object builtInGetService(Invocation inv) {
        String id = inv.stringArg("service_id");
        CallContext ctx = inv.context();
        if (ctx != null && ctx.to() != null && !ctx.to().endsWith("/" + clientId)) {
            throw new IllegalArgumentException("Services can only be accessed locally");
        }
        ServiceDefinition svc = services.get(id);
        if (svc == null) {
            throw new IllegalArgumentException("Service not found: " + id);
        }
        String callerWs = ctx == null ? null : ctx.workspace();
        if (svc.visibility() == Visibility.PROTECTED && !workspace.equals(callerWs)
                && !svc.authorizedWorkspaces().contains(callerWs)) {
            throw new SecurityException("Permission denied for getting protected service: " + id
                    + ", workspace mismatch: " + workspace + " != " + callerWs);
        }
        return serviceDescriptor(svc);
    }


    /** The workspace manager's method, called directly. */
    public Future<Object> callManager(String method, List<?> args, Map<String, ?> kwargs) {
        return onLoop(() -> managerCall(method, args, kwargs));
    }

    private Future<Object> managerCall(String method, List<?> args, Map<String, ?> kwargs) {
        return call(MethodRef.answered("*/" + managerId, "services.default." + method), null, args, kwargs, null);
    }

    /** A service by id ({@code svc}, {@code ws/svc}, {@code ws/cid:svc}, optional {@code @app}), via the manager. */
    public Future<RemoteService> getService(String serviceId) {
        return getService(serviceId, Map.of());
    }

    /** As {@link #getService(String)} with the manager's options, e.g. {@code {"mode": "random"}} or {@code "select:min:load"}. */
    @SuppressWarnings("unchecked")
    public Future<RemoteService> getService(String serviceId, Map<String, ?> config) {
        return callManager("get_service", List.of(serviceId), config.isEmpty() ? Map.of() : Map.of("config", config))
                .map(d -> {
                    if (!(d instanceof Map<?, ?> m)) {
                        throw new HyphaException("get_service(" + serviceId + ") returned " + d);
                    }
                    return new RemoteService((Map<String, Object>) m);
                });
    }

    /** A service straight from its provider's built-in service, bypassing the manager: {@code ws/cid:svc}. */
    @SuppressWarnings("unchecked")
    public Future<RemoteService> getRemoteService(String fullServiceId) {
        int colon = fullServiceId.lastIndexOf(':');
        if (colon < 0 || !fullServiceId.contains("/")) {
            return Future.failedFuture(new IllegalArgumentException("expected workspace/client_id:service_id, got " + fullServiceId));
        }
        String provider = fullServiceId.substring(0, colon);
        Map<String, Object> getService = MethodRef.answered(provider, "services.built-in.get_service");
        return onLoop(() -> call(getService, null, List.of(fullServiceId.substring(colon + 1)), Map.of(), null)).map(d -> {
            Map<String, Object> descriptor = new LinkedHashMap<>((Map<String, Object>) d);
            descriptor.put("id", fullServiceId);
            return new RemoteService(descriptor);
        });
    }

    /** The registry entry of a service; fails when there is none. */
    @SuppressWarnings("unchecked")
    public Future<Map<String, Object>> getServiceInfo(String serviceId) {
        return callManager("get_service_info", List.of(serviceId), Map.of()).map(v -> (Map<String, Object>) v);
    }

    /** Services visible to us: a query string ({@code ws}, {@code ws/cid:svc}, ...) or a map of filters. */
    @SuppressWarnings("unchecked")
    public Future<List<Map<String, Object>>> listServices(Object query) {
        List<Object> args = new ArrayList<>();
        args.add(query);
        return callManager("list_services", args, Map.of()).map(v -> (List<Map<String, Object>>) v);
    }

    /** "pong" when the client answers; otherwise the manager's error text. */
    public Future<String> ping(String client) {
        return callManager("ping", List.of(client), Map.of()).map(String::valueOf);
    }

    /** A token for this workspace, e.g. {@code {"permission": "read_write", "expires_in": 3600}}. */
    public Future<String> generateToken(Map<String, ?> config) {
        return callManager("generate_token", List.of(config), Map.of()).map(String::valueOf);
    }

    // ------------------------------------------------------------------ events

    /** Asks the server for these event types (e.g. {@code service_added}); kept across reconnections. */
    public Future<Void> subscribe(Collection<String> eventTypes) {
        return onLoop(() -> {
            List<String> missing = eventTypes.stream().filter(t -> !subscriptions.contains(t)).toList();
            if (missing.isEmpty()) {
                return Future.succeededFuture();
            }
            return managerCall("subscribe", List.of(missing), Map.of())
                    .onSuccess(v -> subscriptions.addAll(missing))
                    .mapEmpty();
        });
    }

    /** Listens to an event type; the handler gets the whole event map (payload under {@code data}). */
    public Registration on(String eventType, Handler<Map<String, Object>> handler) {
        context.runOnContext(v -> listeners.computeIfAbsent(eventType, k -> new ArrayList<>()).add(handler));
        return () -> context.runOnContext(v -> {
            List<Handler<Map<String, Object>>> l = listeners.get(eventType);
            if (l != null) {
                l.remove(handler);
            }
        });
    }

    /** Broadcasts a custom event to the subscribed clients of our workspace. */
    public Future<Void> emit(String eventType, Map<String, ?> data) {
        return onLoop(() -> {
            Map<String, Object> main = new LinkedHashMap<>();
            main.put("type", eventType);
            main.put("to", "*");
            main.put("from", fullClientId());
            main.put("data", codec.encode(data, null));
            return connection.send(MsgpackCodec.packFrame(main, null));
        });
    }

    /**
     * Completes with the service's registry entry once it exists, or fails after the timeout.
     * Subscribes to {@code service_added} first and then checks once, so a registration between
     * the two is not missed; services of other workspaces (which send us no events) are polled.
     */
    public Future<Map<String, Object>> waitForService(String serviceId, Duration timeout) {
        ServiceQuery query;
        try {
            query = ServiceQuery.parse(serviceId);
        } catch (IllegalArgumentException e) {
            return Future.failedFuture(e);
        }
        return onLoop(() -> {
            Promise<Map<String, Object>> found = Promise.promise();
            String wantedWs = query.workspace() == null ? workspace : query.workspace();
            Handler<Map<String, Object>> onAdded = event -> {
                if (event.get("data") instanceof Map<?, ?> data && query.matches(String.valueOf(data.get("id")), workspace)) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> entry = (Map<String, Object>) data;
                    found.tryComplete(entry);
                }
            };
            listeners.computeIfAbsent("service_added", k -> new ArrayList<>()).add(onAdded);
            long deadline = vertx.setTimer(timeout.toMillis(), t -> found.tryFail(new HyphaException.Timeout(
                    "service " + serviceId + " was not registered within " + timeout.toSeconds() + " s")));
            Handler<Long> poll = new Handler<>() {
                long delay = 500;

                @Override
                public void handle(Long t) {
                    if (found.future().isComplete()) {
                        return;
                    }
                    checkServiceOnce(serviceId, found).onComplete(ar -> {
                        if (!found.future().isComplete()) {
                            delay = Math.min(delay * 2, 5000);
                            vertx.setTimer(delay, this);
                        }
                    });
                }
            };
            Future<Void> subscribed = wantedWs.equals(workspace) ? subscribe(List.of("service_added")) : Future.succeededFuture();
            subscribed.onComplete(ar -> {
                if (ar.failed()) {
                    LOG.debug("service_added subscription failed, polling only: {}", ar.cause().getMessage());
                }
                poll.handle(0L);
            });
            return found.future().andThen(ar -> {
                vertx.cancelTimer(deadline);
                List<Handler<Map<String, Object>>> l = listeners.get("service_added");
                if (l != null) {
                    l.remove(onAdded);
                }
            });
        });
    }

    @SuppressWarnings("unchecked")
    private Future<Void> checkServiceOnce(String serviceId, Promise<Map<String, Object>> found) {
        return managerCall("get_service_info", List.of(serviceId), Map.of()).transform(ar -> {
            if (ar.succeeded() && ar.result() instanceof Map<?, ?> m) {
                found.tryComplete((Map<String, Object>) m);
            }
            return Future.succeededFuture();
        });
    }

    // ------------------------------------------------------------------ outgoing calls

    Future<Object> callRemote(RemoteMethod method, List<?> args, Map<String, ?> kwargs, Duration timeout) {
        return onLoop(() -> call(method.encoded(), method.remoteParent(), args, kwargs, timeout));
    }

    @SuppressWarnings("unchecked")
    Future<Object> call(Map<String, Object> encoded, String remoteParent, List<?> args, Map<String, ?> kwargs,
                                Duration timeout) {
        if (state == ConnectionState.CLOSED) {
            return Future.failedFuture(new HyphaException.ConnectionClosed("Connection is closed"
                    + (closeCause == null ? "" : ": " + closeCause.getMessage())));
        }
        String target = (String) encoded.get("_rtarget");
        String path = (String) encoded.get("_rmethod");
        Object mode = encoded.get("_rpromise");
        boolean withPromise = "*".equals(mode) || Boolean.TRUE.equals(mode);
        CallSession session = new CallSession(newId(22), target);
        session.description = target + ":" + path;
        List<Object> all = new ArrayList<>(args);
        if (kwargs != null && !kwargs.isEmpty()) {
            all.add(kwargs);
        }
        List<Object> encodedArgs;
        try {
            encodedArgs = (List<Object>) codec.encode(all, session);
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
        sessions.put(session.id, session);

        Map<String, Object> main = new LinkedHashMap<>();
        main.put("type", "method");
        main.put("from", fullClientId());
        main.put("to", target);
        main.put("method", path);
        if (remoteParent != null) {
            main.put("parent", remoteParent);
        }
        Map<String, Object> extra = new LinkedHashMap<>();
        if (!encodedArgs.isEmpty()) {
            extra.put("args", encodedArgs);
        }
        if (kwargs != null && !kwargs.isEmpty()) {
            extra.put("with_kwargs", true);
        }
        if (!withPromise) {
            return send(main, extra, target, remoteParent).transform(ar -> {
                if (session.callbacks.isEmpty()) {
                    sessions.remove(session.id);
                }
                return ar.succeeded() ? Future.succeededFuture() : Future.failedFuture(ar.cause());
            });
        }
        session.timeoutMs = (timeout != null ? timeout : options.getMethodTimeout()).toMillis();
        session.promise = Promise.promise();
        main.put("session", session.id);
        double heartbeatSeconds = session.timeoutMs / 2000.0;
        if ("*".equals(mode)) {
            extra.put("promise", "*");
            extra.put("t", heartbeatSeconds);
        } else {
            Map<String, Object> promise = new LinkedHashMap<>();
            promise.put("resolve", sessionMethod(session, "resolve"));
            promise.put("reject", sessionMethod(session, "reject"));
            promise.put("heartbeat", sessionMethod(session, "heartbeat"));
            promise.put("interval", heartbeatSeconds);
            extra.put("promise", promise);
        }
        send(main, extra, target, remoteParent).onComplete(ar -> {
            if (ar.failed()) {
                sessions.remove(session.id);
                session.promise.tryFail(ar.cause());
            } else if (sessions.containsKey(session.id)) {
                // the timer starts once the whole message is out, so large uploads do not eat the timeout
                resetTimer(session);
            }
        });
        return session.promise.future();
    }

    private Map<String, Object> sessionMethod(CallSession session, String key) {
        return MethodRef.unanswered(fullClientId(), session.id + "." + key);
    }

    void resetTimer(CallSession s) {
        s.lastActivityNanos = System.nanoTime();
        if (s.promise == null) {
            return;
        }
        cancelTimer(s);
        s.timerId = vertx.setTimer(s.timeoutMs, t -> {
            if (sessions.remove(s.id) != null) {
                s.promise.tryFail(new HyphaException.Timeout("Method call timed out: " + s.description));
            }
        });
    }

    void cancelTimer(CallSession s) {
        if (s.timerId >= 0) {
            vertx.cancelTimer(s.timerId);
            s.timerId = -1;
        }
    }

    private Future<Void> send(Map<String, Object> main, Map<String, Object> extra, String target, String parentKey) {
        Buffer frame;
        try {
            frame = MsgpackCodec.packFrame(main, extra);
        } catch (RuntimeException e) {
            return Future.failedFuture(e);
        }
        return chunkedSender.send(connection, frame, target, parentKey);
    }

    // ------------------------------------------------------------------ incoming frames

    private void handleFrame(Buffer buffer) {
        MsgpackCodec.Frame frame;
        try {
            frame = MsgpackCodec.unpackFrame(buffer, options.getMaxMessageBytes());
        } catch (RuntimeException | StackOverflowError | OutOfMemoryError e) {
            LOG.warn("dropping a frame of {} bytes that does not decode: {}", buffer.length(), e.toString());
            return;
        }
        try {
            dispatch(frame);
        } catch (RuntimeException | StackOverflowError | OutOfMemoryError e) {
            // one peer's frame must not take the client, or the process, down with it
            LOG.warn("dropping a frame whose handling failed: {}", e.toString());
        }
    }

    void dispatch(MsgpackCodec.Frame frame) {
        Map<String, Object> message = frame.merged();
        Object type = message.get("type");
        try {
            if ("method".equals(type)) {
                handleMethod(message, frame.main());
            } else if (type != null) {
                dispatchEvent(type.toString(), message);
            }
        } catch (RuntimeException e) {
            LOG.warn("failed to handle a {} message: {}", type, e.toString(), e);
        }
    }

    private void dispatchEvent(String type, Map<String, Object> message) {
        if ("peer_not_found".equals(type) && message.get("session") instanceof String sid) {
            CallSession s = sessions.remove(sid);
            if (s != null) {
                cancelTimer(s);
                if (s.promise != null) {
                    s.promise.tryFail(new RemoteException(String.valueOf(message.getOrDefault("error", "target is not connected")), ""));
                }
            }
        }
        List<Handler<Map<String, Object>>> handlers = listeners.get(type);
        if (handlers == null) {
            return;
        }
        for (Handler<Map<String, Object>> h : new ArrayList<>(handlers)) {
            try {
                h.handle(message);
            } catch (RuntimeException e) {
                LOG.warn("{} listener failed", type, e);
            }
        }
    }

    @SuppressWarnings("unchecked")
    private void handleMethod(Map<String, Object> message, Map<String, Object> firstSegment) {
        // the server stamps who sent a frame into its first segment; the second one is the sender's own word
        String from = str(firstSegment.get("from"));
        String path = str(message.get("method"));
        if (from == null || path == null) {
            LOG.warn("dropping a method message without from/method");
            return;
        }
        if (from.equals(fullClientId()) && !options.isServeOwnCalls()) {
            // this client never calls itself: such a frame is a function of ours turned against us
            LOG.warn("dropping a call of {} that comes from this client itself", path);
            return;
        }
        String remoteWs = from.contains("/") ? from.substring(0, from.indexOf('/')) : workspace;
        String to = str(firstSegment.get("to"));
        to = to == null ? fullClientId() : (to.contains("/") ? to : remoteWs + "/" + to);
        Map<String, Object> ctx = new LinkedHashMap<>(firstSegment);
        ctx.put("connection_type", "websocket");
        ctx.put("to", to);
        String callerSession = str(message.get("session"));

        String methodName = from + ":" + path;
        int dot = path.indexOf('.');
        String head = dot < 0 ? path : path.substring(0, dot);
        String rest = dot < 0 ? "" : path.substring(dot + 1);

        // who may call what is settled before anything the caller sent is turned into a function
        RuntimeException refusal = null;
        RpcFunction target = null;
        ServiceDefinition svc = null;
        String memberPath = null;
        CallSession session = null;
        ServedInterface intf = null;
        boolean isReply = false;
        if (!to.startsWith(workspace + "/")) {
            refusal = new SecurityException("Workspace mismatch: " + to + " is not in " + workspace);
        } else if ("services".equals(head)) {
            int next = rest.indexOf('.');
            String serviceId = next < 0 ? rest : rest.substring(0, next);
            memberPath = next < 0 ? "" : rest.substring(next + 1);
            svc = services.get(serviceId);
            intf = svc == null && serviceId.startsWith("_rintf_") ? interfaces.get(serviceId) : null;
            Object member = intf != null ? intf.functions().get(memberPath)
                    : svc == null || memberPath.isEmpty() ? null : svc.member(memberPath);
            if (!(member instanceof RpcFunction fn)) {
                refusal = new IllegalArgumentException("Method not found: " + methodName + " at " + clientId);
            } else if (intf != null && !from.equals(intf.allowedCaller())) {
                LOG.warn("refusing {} from {}: the interface was sent to {}", path, from, intf.allowedCaller());
                refusal = new SecurityException("Permission denied for interface method " + path
                        + ": it was sent to another client");
            } else if (intf == null && !mayCall(svc, from, remoteWs)) {
                refusal = new SecurityException("Permission denied for invoking protected method " + methodName
                        + ", workspace mismatch: " + workspace + " != " + remoteWs);
            } else {
                target = fn;
            }
        } else {
            session = sessions.get(head);
            isReply = "resolve".equals(rest) || "reject".equals(rest) || "heartbeat".equals(rest);
            if (session == null) {
                if (isReply) {
                    // late or duplicate replies to a finished call are expected and ignored
                    return;
                }
                refusal = new IllegalStateException("Session not found: " + methodName);
            } else if (!from.equals(qualify(session.targetId, remoteWs))) {
                LOG.warn("refusing {} from {}: session {} belongs to {}", rest, from, head, session.targetId);
                refusal = new SecurityException("Access denied for method call (" + methodName + ") from " + from
                        + " to target " + session.targetId);
            } else if (!isReply) {
                target = session.callbacks.get(rest);
                if (target == null) {
                    refusal = new IllegalStateException("Method expired or not found: " + methodName);
                }
            }
        }

        Replier replier;
        try {
            replier = replierFor(message, from, remoteWs, callerSession);
        } catch (RuntimeException e) {
            // the reply channel names someone else: answering it would make us call them on the caller's behalf
            LOG.warn("dropping a call of {} from {}: {}", path, from, e.getMessage());
            return;
        }
        if (refusal != null) {
            reply(replier, null, refusal);
            return;
        }
        if (svc != null) {
            invoke(target, message, svc.requiresContext(memberPath) ? ctx : null, replier, from, remoteWs, callerSession);
            return;
        }
        if (intf != null) {
            invoke(target, message, null, replier, from, remoteWs, callerSession);
            return;
        }
        if (isReply) {
            handleReply(session, rest, message, remoteWs);
            return;
        }
        session.lastActivityNanos = System.nanoTime();
        invoke(target, message, null, replier, from, remoteWs, callerSession);
    }

    String qualify(String target, String remoteWs) {
        return target != null && !target.contains("/") ? remoteWs + "/" + target : target;
    }

    @SuppressWarnings("unchecked")
    private void handleReply(CallSession session, String kind, Map<String, Object> message, String remoteWs) {
        if ("heartbeat".equals(kind)) {
            resetTimer(session);
            return;
        }
        sessions.remove(session.id);
        cancelTimer(session);
        if (session.promise == null) {
            return;
        }
        List<Object> args = message.get("args") instanceof List<?> l ? (List<Object>) l : List.of();
        // a reply is a value for our own code, which decides what to call; it may name any client
        Object value = args.isEmpty() ? null : codec.decode(args.get(0), null, remoteWs, null);
        if ("resolve".equals(kind)) {
            session.promise.tryComplete(value);
        } else if (value instanceof RemoteException re) {
            session.promise.tryFail(re);
        } else {
            session.promise.tryFail(new RemoteException(String.valueOf(value), ""));
        }
    }

    @SuppressWarnings("unchecked")
    private Replier replierFor(Map<String, Object> message, String from, String remoteWs, String callerSession) {
        Object promise = message.get("promise");
        if (promise == null) {
            return null;
        }
        if ("*".equals(promise)) {
            if (callerSession == null) {
                throw new IllegalArgumentException("promise without session");
            }
            double interval = message.get("t") instanceof Number n ? n.doubleValue() : 0;
            return new Replier(replyMethod(from, callerSession, "resolve"), replyMethod(from, callerSession, "reject"),
                    replyMethod(from, callerSession, "heartbeat"), interval);
        }
        if (!(promise instanceof Map<?, ?>)) {
            throw new IllegalArgumentException("malformed promise");
        }
        Map<String, Object> p;
        try {
            p = (Map<String, Object>) codec.decode(promise, callerSession, remoteWs, from);
        } catch (WireValues.ForeignFunctionException f) {
            throw f.within("promise");
        }
        if (!(p.get("resolve") instanceof RemoteMethod resolve) || !(p.get("reject") instanceof RemoteMethod reject)) {
            throw new IllegalArgumentException("promise without resolve and reject");
        }
        RemoteMethod heartbeat = p.get("heartbeat") instanceof RemoteMethod h ? h : null;
        double interval = p.get("interval") instanceof Number n ? n.doubleValue() : 0;
        return new Replier(resolve, reject, heartbeat, interval);
    }

    private RemoteMethod replyMethod(String caller, String callerSession, String kind) {
        return new RemoteMethod(this, MethodRef.unanswered(caller, callerSession + "." + kind), callerSession);
    }

    @SuppressWarnings("unchecked")
    private void invoke(RpcFunction fn, Map<String, Object> message, Map<String, Object> ctx, Replier replier,
                        String from, String remoteWs, String callerSession) {
        long heartbeatTimer = -1;
        if (replier != null && replier.heartbeat() != null && replier.intervalSeconds() > 0 && options.isHeartbeats()) {
            RemoteMethod hb = replier.heartbeat();
            heartbeatOnce(hb);
            heartbeatTimer = vertx.setPeriodic(Math.max(100, (long) (replier.intervalSeconds() * 1000)), t -> heartbeatOnce(hb));
        }
        long timerToCancel = heartbeatTimer;
        Future<Object> result;
        try {
            List<Object> args = message.get("args") instanceof List<?> l
                    ? (List<Object>) codec.decodeArgs(l, callerSession, remoteWs, from) : new ArrayList<>();
            Map<String, Object> kwargs = new LinkedHashMap<>();
            if (Boolean.TRUE.equals(message.get("with_kwargs")) && !args.isEmpty() && args.get(args.size() - 1) instanceof Map<?, ?> kw) {
                args = new ArrayList<>(args);
                args.remove(args.size() - 1);
                kwargs.putAll((Map<String, Object>) kw);
            }
            CallContext callContext = ctx == null ? null : new CallContext(str(ctx.get("from")), str(ctx.get("to")),
                    str(ctx.get("ws")), ctx.get("user") instanceof Map<?, ?> u ? (Map<String, Object>) u : Map.of(),
                    str(ctx.get("method")), ctx);
            Object r = fn.body().call(new Invocation(fn, args, kwargs, callContext));
            result = r instanceof Future<?> f ? (Future<Object>) f : Future.succeededFuture(r);
        } catch (WireValues.ForeignFunctionException e) {
            LOG.warn("refusing a call of {} from {}: {} names another client", fn.name(), from, e.field);
            result = Future.failedFuture(new SecurityException(e.getMessage()));
        } catch (Exception | StackOverflowError e) {
            result = Future.failedFuture(e);
        }
        result.onComplete(ar -> {
            if (timerToCancel >= 0) {
                vertx.cancelTimer(timerToCancel);
            }
            if (ar.failed() && LOG.isDebugEnabled()) {
                LOG.debug("{} failed", fn.name(), ar.cause());
            }
            reply(replier, ar.result(), ar.failed() ? ar.cause() : null);
        });
    }

    private void heartbeatOnce(RemoteMethod heartbeat) {
        heartbeat.call().onFailure(err -> LOG.debug("heartbeat not sent: {}", err.getMessage()));
    }

    private void reply(Replier replier, Object value, Throwable error) {
        if (replier == null) {
            if (error != null) {
                LOG.warn("call without a reply channel failed: {}", error.getMessage());
            }
            return;
        }
        Future<Object> sent = error == null ? replier.resolve().call(value) : replier.reject().call(error);
        sent.onFailure(err -> LOG.debug("reply not sent: {}", err.getMessage()));
    }

    // ------------------------------------------------------------------ values

    /**
     * Our generator, sent in a call or a reply: its next and close become callbacks of the session,
     * which only the session's target may call (Python's wire form: {@code _rclose_method} is
     * {@code <session>.<id>:close}).
     */
    Map<String, Object> serveGenerator(RpcGenerator source, CallSession session) {
        String objectId = newId(16);
        ServedGenerator served = new ServedGenerator(session, objectId, source);
        session.callbacks.put(served.nextId, RpcFunction.of("next", inv -> served.next()));
        session.callbacks.put(served.closeId, RpcFunction.of("close", inv -> {
            served.finish(true);
            return true;
        }));
        session.generators.add(served);
        served.armIdleTimer();
        watchDisconnects();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_rtype", "generator");
        if (publicBaseUrl != null) {
            m.put("_rserver", publicBaseUrl);
        }
        m.put("_rtarget", fullClientId());
        m.put("_rmethod", session.id + "." + served.nextId);
        m.put("_rclose_method", session.id + "." + served.closeId);
        m.put("_rpromise", "*");
        m.put("_rdoc", "Remote generator");
        return m;
    }

    private boolean watchingDisconnects;

    /**
     * Generators are closed when their consumer leaves: the server tells the workspace's
     * subscribers of each client that disconnects (consumers in other workspaces are caught by the
     * idle timeout instead).
     */
    private void watchDisconnects() {
        if (watchingDisconnects) {
            return;
        }
        watchingDisconnects = true;
        listeners.computeIfAbsent("client_disconnected", k -> new ArrayList<>()).add(this::onClientDisconnected);
        subscribe(List.of("client_disconnected")).onFailure(err -> {
            LOG.warn("not told of disconnecting clients, generators end only by their idle timeout: {}", err.getMessage());
        });
    }

    private void onClientDisconnected(Map<String, Object> event) {
        Object data = event.get("data") instanceof Map<?, ?> d ? d : event;
        Map<?, ?> fields = (Map<?, ?>) data;
        Object id = fields.get("id") != null ? fields.get("id") : event.get("client");
        if (id == null) {
            return;
        }
        String ws = fields.get("workspace") != null ? fields.get("workspace").toString() : workspace;
        String gone = id.toString().contains("/") ? id.toString() : ws + "/" + id;
        List<CallSession> theirs = new ArrayList<>();
        for (CallSession s : sessions.values()) {
            if (!s.generators.isEmpty() && gone.equals(qualify(s.targetId, workspace))) {
                theirs.add(s);
            }
        }
        for (CallSession s : theirs) {
            LOG.info("closing {} generator(s) of {}, which disconnected", s.generators.size(), gone);
            releaseGenerators(s);
        }
        if (interfaces.values().removeIf(i -> gone.equals(i.allowedCaller()))) {
            LOG.info("dropped the interface objects held by {}, which disconnected", gone);
        }
    }

    /**
     * Our interface object ({@code "_rintf": true} and functions), sent in a call or a reply: its
     * functions become a local service {@code _rintf_<id>} that only the session's target may call,
     * living past the call until that client calls {@code _dispose}, disconnects, or this client
     * leaves. Sent as Python sends it: functions as service methods, plus {@code _dispose} and
     * {@code _rintf_service_id}; the id is also put into the map given, when it is mutable.
     */
    @SuppressWarnings("unchecked")
    Map<String, Object> serveInterface(Map<?, ?> object, CallSession session) {
        String id = "_rintf_" + newId(22);
        String allowedCaller = qualify(session.targetId, workspace);
        Map<String, RpcFunction> functions = new HashMap<>();
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : object.entrySet()) {
            String key = String.valueOf(e.getKey());
            if (e.getValue() instanceof RpcFunction fn && !key.startsWith("_")) {
                functions.put(key, fn);
                out.put(key, codec.servedFunction("services." + id + "." + key, fn));
            } else {
                out.put(key, codec.encode(e.getValue(), session));
            }
        }
        RpcFunction dispose = RpcFunction.of("_dispose", inv -> {
            disposeInterface(id);
            return null;
        }).description("Frees this interface object at its sender");
        functions.put("_dispose", dispose);
        interfaces.put(id, new ServedInterface(id, allowedCaller, functions));
        out.put("_dispose", codec.servedFunction("services." + id + "._dispose", dispose));
        out.put("_rintf_service_id", id);
        try {
            ((Map<Object, Object>) object).put("_rintf_service_id", id);
        } catch (UnsupportedOperationException | ClassCastException e) {
            // an immutable map: the caller learns the id from interfaceIds() if it needs it
        }
        watchDisconnects();
        return out;
    }

    /** Removes an interface object we sent; true if it was there. */
    public Future<Boolean> disposeInterface(String interfaceId) {
        return onLoop(() -> Future.succeededFuture(interfaces.remove(interfaceId) != null));
    }

    /** The ids of the interface objects this client serves. */
    public Future<Set<String>> interfaceIds() {
        return onLoop(() -> Future.succeededFuture(new HashSet<>(interfaces.keySet())));
    }

    // ------------------------------------------------------------------ helpers

    /** Whether we run on the client's context, or a duplicate of it (Vert.x hands event-bus handlers duplicates). */
    private boolean onOwnContext() {
        Context current = Vertx.currentContext();
        return current == context || current instanceof ContextInternal internal && internal.unwrap() == context;
    }

    private <T> Future<T> onLoop(Supplier<Future<T>> action) {
        // running now when already on our context keeps calls in the order they were made
        if (onOwnContext()) {
            try {
                return action.get();
            } catch (RuntimeException e) {
                return Future.failedFuture(e);
            }
        }
        Promise<T> promise = Promise.promise();
        context.runOnContext(v -> {
            try {
                action.get().onComplete(promise);
            } catch (RuntimeException e) {
                promise.tryFail(e);
            }
        });
        return promise.future();
    }

    private static String str(Object o) {
        return o == null ? null : o.toString();
    }

    static String newId(int length) {
        StringBuilder sb = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            sb.append(ID_ALPHABET.charAt(RANDOM.nextInt(ID_ALPHABET.length())));
        }
        return sb.toString();
    }
}
