package io.hypha.rpc;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
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

    final Map<String, ServiceDefinition> services = new LinkedHashMap<>();
    final CallSessions calls;
    final ServedObjects served;
    final IncomingCalls incoming;
    private final MessageCache messageCache;
    private long cacheSweepTimer = -1;
    final Map<String, List<Handler<Map<String, Object>>>> listeners = new HashMap<>();
    private final Set<String> subscriptions = new LinkedHashSet<>();
    private final List<Handler<ConnectionState>> stateHandlers = new CopyOnWriteArrayList<>();

    private HyphaClient(Vertx vertx, Context context, ConnectOptions options) {
        this.vertx = vertx;
        this.context = context;
        this.options = options;
        this.messageCache = new MessageCache(this, options);
        this.calls = new CallSessions(this, vertx, options, codec);
        this.served = new ServedObjects(this, calls, codec);
        this.incoming = new IncomingCalls(this, vertx, options, codec, calls, served);
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
                incoming.handleFrame(frame);
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
        calls.start();
        long idleMs = options.getMessageCacheIdleTimeout().toMillis();
        cacheSweepTimer = vertx.setPeriodic(Math.max(1000, Math.min(idleMs / 4, 30_000)), t -> messageCache.dropIdleChunkCaches());
        return connection.open().map(i -> this).onFailure(err -> {
            calls.close("the connection could not be opened");
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
            calls.failSessions(s -> s.promise != null && s.targetId.equals("*/" + previousManager),
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
        vertx.cancelTimer(cacheSweepTimer);
        calls.close(cause.getMessage());
        served.clear();
        messageCache.clear();
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
        return calls.call(MethodRef.answered("*/" + managerId, "services.default." + method), null, args, kwargs, null);
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
        return onLoop(() -> calls.call(getService, null, List.of(fullServiceId.substring(colon + 1)), Map.of(), null)).map(d -> {
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
        return onLoop(() -> calls.call(method.encoded(), method.remoteParent(), args, kwargs, timeout));
    }

    /** How many generators this client serves right now. For tests. */
    int servedGeneratorCount() {
        return calls.servedGeneratorCount();
    }

    /** Removes an interface object we sent; true if it was there. */
    public Future<Boolean> disposeInterface(String interfaceId) {
        return onLoop(() -> Future.succeededFuture(served.disposeInterface(interfaceId)));
    }

    /** The ids of the interface objects this client serves. */
    public Future<Set<String>> interfaceIds() {
        return onLoop(() -> Future.succeededFuture(served.interfaceIds()));
    }

    Vertx vertx() {
        return vertx;
    }

    ConnectOptions options() {
        return options;
    }

    WebSocketConnection connection() {
        return connection;
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

    /** A client id as the server qualifies it: with the given workspace when it has none. */
    static String qualify(String target, String remoteWs) {
        return target != null && !target.contains("/") ? remoteWs + "/" + target : target;
    }

    static String newId(int length) {
        StringBuilder sb = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            sb.append(ID_ALPHABET.charAt(RANDOM.nextInt(ID_ALPHABET.length())));
        }
        return sb.toString();
    }
}
