package io.hypha.rpc;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
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

    /** Where the connection stands, for health reporting. */
    public enum ConnectionState { CONNECTED, RECONNECTING, CLOSED }

    /** A handle to undo {@link #on}. */
    @FunctionalInterface
    public interface Registration {
        void remove();
    }

    private final Vertx vertx;
    private final Context context;
    private final ConnectOptions options;
    private final String clientId;
    private final WireValues codec = new WireValues(this);
    final ClientConnection connection;
    final ServiceRegistry services;
    final ClientEvents events;
    final MessageCache messageCache;
    final CallSessions calls;
    final ServedObjects served;
    final IncomingCalls incoming;

    private HyphaClient(Vertx vertx, Context context, ConnectOptions options) {
        this.vertx = vertx;
        this.context = context;
        this.options = options;
        String id = options.getClientId();
        this.clientId = id != null ? id : "java-" + newId(12);
        if (!clientId.matches("[A-Za-z0-9_-]+")) {
            throw new IllegalArgumentException("clientId must match [A-Za-z0-9_-]+: " + clientId);
        }
        this.connection = new ClientConnection(this, vertx, context, options);
        this.messageCache = new MessageCache(this, options);
        this.services = new ServiceRegistry(this, codec, messageCache);
        this.events = new ClientEvents(this, vertx, codec);
        this.calls = new CallSessions(this, vertx, options, codec);
        this.served = new ServedObjects(this, calls, codec);
        this.incoming = new IncomingCalls(this, vertx, options, codec, calls, served);
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
        return client.onLoop(() -> client.connection.open().map(v -> client));
    }

    /**
     * Logs in through the server's login service and completes with the token: connects
     * anonymously, starts a login, hands its context (the {@code login_url} for the user) to the
     * callback, waits for the user to log in, and disconnects.
     */
    public static Future<String> login(Vertx vertx, LoginOptions options) {
        return LoginFlow.loginCheck(vertx, options, false).map(v -> v == null ? null : v.toString());
    }

    /** As {@link #login}, completing with the user's profile ({@code token}, {@code email}, {@code user_id}, ...). */
    @SuppressWarnings("unchecked")
    public static Future<Map<String, Object>> loginWithProfile(Vertx vertx, LoginOptions options) {
        return LoginFlow.loginCheck(vertx, options, true).map(v -> v instanceof Map<?, ?> m ? (Map<String, Object>) m : null);
    }

    // ------------------------------------------------------------------ identity and state

    public String clientId() {
        return clientId;
    }

    public String workspace() {
        return connection.workspace();
    }

    /** {@code workspace/client_id}. */
    public String fullClientId() {
        return connection.workspace() + "/" + clientId;
    }

    public ConnectionInfo connectionInfo() {
        return connection.info();
    }

    public ConnectionState state() {
        return connection.state();
    }

    /** Why the connection ended for good (null while it lives): the server's refusal, or the user's disconnect. */
    public HyphaException closeCause() {
        return connection.closeCause();
    }

    /** The latest reconnection token the server gave (refreshed periodically). */
    public String reconnectionToken() {
        return connection.socket().reconnectionToken();
    }

    /** Notified on every change of {@link ConnectionState}, on the client's context. */
    public void connectionStateHandler(Handler<ConnectionState> handler) {
        connection.addStateHandler(handler);
    }

    /**
     * Leaves the server for good: pending calls fail, the server drops our services and tells the
     * workspace that this client disconnected.
     */
    public Future<Void> disconnect() {
        return onLoop(() -> connection.socket().close());
    }

    /** Drops the TCP connection without a close handshake, as a network failure would. For tests. */
    void dropConnection() {
        context.runOnContext(v -> connection.socket().dropAbruptly());
    }

    // ------------------------------------------------------------------ services we provide

    /** Registers (or replaces) a service; completes with its full id {@code workspace/client_id:service_id}. */
    public Future<String> registerService(ServiceDefinition service) {
        return onLoop(() -> services.register(service));
    }

    /** Unregisters one of our services, by short or full id. */
    public Future<Void> unregisterService(String serviceId) {
        return onLoop(() -> services.unregister(serviceId));
    }

    /**
     * Registers the public {@code probes} service as Python's {@code register_probes} does, e.g.
     * {@code readiness} and {@code liveness} functions: the server answers
     * {@code GET <server>/<workspace>/services/probes/<name>} with what they return.
     */
    public Future<String> registerProbes(Map<String, RpcFunction> probes) {
        ServiceDefinition.Builder b = ServiceDefinition.builder("probes").name("Probes").type("probes")
                .visibility(Visibility.PUBLIC)
                .description("Probes Service, visit " + (publicBaseUrl() == null ? "" : publicBaseUrl()) + "/" + workspace()
                        + "/services/probes for the available probes.");
        probes.forEach(b::member);
        return registerService(b.build());
    }

    // ------------------------------------------------------------------ calling others

    /** The workspace manager's method, called directly. */
    public Future<Object> callManager(String method, List<?> args, Map<String, ?> kwargs) {
        return onLoop(() -> managerCall(method, args, kwargs));
    }

    Future<Object> managerCall(String method, List<?> args, Map<String, ?> kwargs) {
        return calls.call(MethodRef.answered("*/" + connection.managerId(), "services.default." + method), null, args, kwargs, null);
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
        return onLoop(() -> events.subscribe(eventTypes));
    }

    /** Listens to an event type; the handler gets the whole event map (payload under {@code data}). */
    public Registration on(String eventType, Handler<Map<String, Object>> handler) {
        context.runOnContext(v -> events.addListener(eventType, handler));
        return () -> context.runOnContext(v -> events.removeListener(eventType, handler));
    }

    /** Broadcasts a custom event to the subscribed clients of our workspace. */
    public Future<Void> emit(String eventType, Map<String, ?> data) {
        return onLoop(() -> events.emit(eventType, data));
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
        return onLoop(() -> events.waitForService(query, serviceId, timeout));
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

    String managerId() {
        return connection.managerId();
    }

    String publicBaseUrl() {
        return connection.publicBaseUrl();
    }

    Vertx vertx() {
        return vertx;
    }

    ConnectOptions options() {
        return options;
    }

    WebSocketConnection socket() {
        return connection.socket();
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
