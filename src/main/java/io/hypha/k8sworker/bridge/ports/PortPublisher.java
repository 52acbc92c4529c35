package io.hypha.k8sworker.bridge.ports;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.OperationHandlers;
import io.hypha.k8sworker.bus.PortPublication;
import io.hypha.k8sworker.bus.PortsOp;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.ports.WebPort;
import io.hypha.rpc.ConnectOptions;
import io.hypha.rpc.HyphaClient;
import io.hypha.rpc.RpcFunction;
import io.hypha.rpc.ServiceDefinition;
import io.hypha.rpc.Visibility;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;

/**
 * Publishes sessions' web ports in Hypha, a part of the hypha-bridge (started and stopped with it,
 * on a Hypha connection of its own to the bridge's workspace): on {@link Addresses#PORTS} it takes
 * the running sessions the service-watcher reports, waits until each port answers, and registers
 * one {@code asgi} service per port whose {@code serve} proxies to the pod. Withdrawn sessions lose
 * their services; a new connection gets every service again, and the services vanish with the
 * connection when the worker goes (a restarted worker's watcher reports the running sessions again).
 */
public final class PortPublisher {

    private static final Logger LOG = LoggerFactory.getLogger(PortPublisher.class);

    private final Vertx vertx;
    private final WorkerConfig config;
    private final AsgiProxy proxy;
    private final NetClient probes;
    /** Published ports by service id: a service id belongs to one session at a time, the first to claim it. */
    private final Map<String, Port> ports = new HashMap<>();
    private final Map<String, List<Port>> bySession = new HashMap<>();
    private MessageConsumer<JsonObject> consumer;
    private HyphaClient client;
    private String appsUrl;
    private String workspace;
    private boolean connecting;
    private boolean stopping;
    private boolean leading = true;

    public PortPublisher(Vertx vertx, WorkerConfig config) {
        this.vertx = vertx;
        this.config = config;
        this.proxy = new AsgiProxy(vertx, config.ports());
        this.probes = vertx.createNetClient(new NetClientOptions().setConnectTimeout(config.ports().connectTimeoutSeconds() * 1000));
    }

    /** One port of a session, and where its service stands. */
    private final class Port {
        final String sessionId;
        final WebPort port;
        volatile String podIp;
        boolean registered;
        boolean withdrawn;
        long probingSince = -1;
        long timer = -1;
        /** The connection this port was registered on, or is being registered on. */
        HyphaClient on;
        /** The requests under way. */
        final java.util.Set<Promise<Object>> active = new java.util.HashSet<>();

        Port(String sessionId, WebPort port, String podIp) {
            this.sessionId = sessionId;
            this.port = port;
            this.podIp = podIp;
        }
    }

    public Future<Void> start() {
        consumer = vertx.eventBus().consumer(Addresses.PORTS, handlers());
        return consumer.completion();
    }

    /**
     * The bridge is connected: the ports get a connection of their own to the same workspace, so
     * that web traffic, every chunk a message, spends its own message rate and never delays the
     * worker's answers to its callers (nor fills their send queue).
     */
    public void connected(HyphaClient bridgeClient) {
        this.workspace = bridgeClient.workspace();
        String base = !config.ports().baseUrl().isBlank() ? config.ports().baseUrl()
                : config.hypha().publicServerUrl().isBlank() ? config.hypha().serverUrl() : config.hypha().publicServerUrl();
        this.appsUrl = base.replaceAll("/+$", "") + "/" + workspace + "/apps/";
        vertx.eventBus().publish(Addresses.PORTS_APPS_URL, new JsonObject().put("appsUrl", appsUrl));
        if (client == null && !connecting) {
            connectOwn(1);
        }
    }

    private ConnectOptions options() {
        WorkerConfig.Hypha h = config.hypha();
        return new ConnectOptions()
                .setServerUrl(h.serverUrl())
                .setToken(h.token().isBlank() ? null : h.token())
                .setWorkspace(workspace)
                .setClientId(h.clientId().isBlank() ? null : h.clientId() + "-ports")
                .setMethodTimeout(Duration.ofSeconds(h.methodTimeoutSeconds()))
                .setMaxReconnectDelay(Duration.ofSeconds(10))
                .setSendRate(h.sendRatePerSecond(), h.sendBurst(), 10_000)
                .setServeOwnCalls(false);
    }

    private void connectOwn(int attempt) {
        connecting = true;
        HyphaClient.connect(vertx, options()).onComplete(ar -> {
            connecting = false;
            if (stopping) {
                if (ar.succeeded()) {
                    ar.result().disconnect();
                }
                return;
            }
            if (ar.failed()) {
                LOG.warn("the web ports' connection to Hypha failed ({}); trying again", ar.cause().getMessage());
                vertx.setTimer(Math.min(10_000L, 1000L << Math.min(4, attempt - 1)), t -> connectOwn(attempt + 1));
                return;
            }
            HyphaClient c = ar.result();
            c.connectionStateHandler(state -> {
                if (state == HyphaClient.ConnectionState.CLOSED && client == c && !stopping) {
                    // the client gave up reconnecting: a new connection, and every port registered on it again
                    client = null;
                    ports.values().forEach(p -> p.registered = false);
                    vertx.setTimer(1000, t -> connectOwn(1));
                }
            });
            client = c;
            for (Port p : new ArrayList<>(ports.values())) {
                p.registered = false;
                p.on = null;
                ensure(p);
            }
        });
    }

    public Future<Void> stop() {
        stopping = true;
        List<Future<Void>> done = new ArrayList<>();
        for (Port p : new ArrayList<>(ports.values())) {
            done.add(withdraw(p));
        }
        return Future.join(done).<Void>mapEmpty().otherwiseEmpty().eventually(() -> {
            HyphaClient c = client;
            client = null;
            return c == null ? Future.succeededFuture() : c.disconnect().otherwiseEmpty();
        }).eventually(() -> {
            proxy.close();
            probes.close();
            return consumer == null ? Future.succeededFuture() : consumer.unregister();
        });
    }

    private OperationHandlers handlers() {
        return new OperationHandlers()
                .on(PortsOp.PUBLISH, body -> {
                    publish(PortPublication.fromJson(body));
                    return Future.succeededFuture(new JsonObject().put("appsUrl", appsUrl));
                })
                .on(PortsOp.WITHDRAW, body -> {
                    List<Port> gone = bySession.remove(PortPublication.fromJson(body).sessionId());
                    if (gone != null) {
                        new ArrayList<>(gone).forEach(this::withdraw);
                    }
                    return Future.succeededFuture(new JsonObject());
                });
    }

    /**
     * With several replicas only the leader publishes ports (one service per port in Hypha); one
     * that stops leading withdraws its registrations and keeps the sessions for when it leads again.
     */
    public void leading(boolean value) {
        if (leading == value) {
            return;
        }
        leading = value;
        for (Port p : new ArrayList<>(ports.values())) {
            if (value) {
                ensure(p);
            } else {
                unregister(p);
            }
        }
    }

    private void publish(PortPublication publication) {
        List<Port> existing = bySession.get(publication.sessionId());
        if (existing != null) {
            // the same session again (a new pod, or the watcher repeating itself): the proxy follows the address
            existing.forEach(p -> p.podIp = publication.podIp());
            existing.stream().filter(p -> !p.registered && p.probingSince < 0).forEach(this::ensure);
            return;
        }
        List<Port> mine = new ArrayList<>();
        for (Object o : publication.ports()) {
            WebPort wp = WebPort.fromJson((JsonObject) o);
            Port holder = ports.get(wp.serviceId());
            if (holder != null || wp.serviceId().equals(config.hypha().serviceId())) {
                status(publication.sessionId(), wp.serviceId(), false, "service id " + wp.serviceId() + " is already in use");
                LOG.warn("session {}: port {} not published, service id {} is already in use", publication.sessionId(), wp.port(),
                        wp.serviceId());
                continue;
            }
            Port p = new Port(publication.sessionId(), wp, publication.podIp());
            ports.put(wp.serviceId(), p);
            mine.add(p);
        }
        bySession.put(publication.sessionId(), mine);
        mine.forEach(this::ensure);
    }

    /** Registers a port once it answers; until then tries again every second, up to ports.readySeconds. */
    private void ensure(Port p) {
        if (p.withdrawn || p.registered || !leading || client == null || p.timer >= 0) {
            return;
        }
        if (p.probingSince < 0) {
            p.probingSince = System.nanoTime();
        }
        String ip = p.podIp;
        probes.connect(p.port.port(), ip).onComplete(ar -> {
            if (p.withdrawn) {
                return;
            }
            if (ar.succeeded()) {
                ar.result().close();
                register(p);
                return;
            }
            long waitedSeconds = (System.nanoTime() - p.probingSince) / 1_000_000_000L;
            if (waitedSeconds >= config.ports().readySeconds()) {
                LOG.warn("session {}: port {} did not answer within {} s; not published", p.sessionId, p.port.port(),
                        config.ports().readySeconds());
                status(p.sessionId, p.port.serviceId(), false, "port " + p.port.port() + " did not answer within "
                        + config.ports().readySeconds() + " s");
                p.probingSince = -1;
                return;
            }
            p.timer = vertx.setTimer(1000, t -> {
                p.timer = -1;
                ensure(p);
            });
        });
    }

    private void register(Port p) {
        HyphaClient c = client;
        if (c == null) {
            return;
        }
        p.on = c;
        c.registerService(definition(p)).onComplete(ar -> {
            p.probingSince = -1;
            if (p.withdrawn || c != client || !leading) {
                if (ar.succeeded()) {
                    c.unregisterService(p.port.serviceId()).otherwiseEmpty();
                }
                return;
            }
            if (ar.failed()) {
                LOG.warn("session {}: Hypha refused the service of port {}: {}", p.sessionId, p.port.port(), ar.cause().getMessage());
                status(p.sessionId, p.port.serviceId(), false, "Hypha refused the service: " + ar.cause().getMessage());
                return;
            }
            p.registered = true;
            LOG.info("session {}: port {} published as {} at {}{}/", p.sessionId, p.port.port(), ar.result(), appsUrl, p.port.serviceId());
            status(p.sessionId, p.port.serviceId(), true, null);
        });
    }

    private ServiceDefinition definition(Port p) {
        AsgiProxy.Target target = new AsgiProxy.Target(() -> p.podIp, p.port.port());
        return ServiceDefinition.builder(p.port.serviceId())
                .name(p.port.serviceId())
                .type("asgi")
                .description("Port " + p.port.port() + " (" + p.port.name() + ") of session " + p.sessionId)
                .visibility(Visibility.fromWire(p.port.visibility()))
                .function(RpcFunction.of("serve", inv -> serve(p, inv.arg("request"), target))
                        .param("request", "the ASGI scope with its receive and send functions", "object")
                        .description("Serve one HTTP request of the session's web port (Hypha's ASGI apps)."))
                .build();
    }

    /** One request, ended by the worker if the session's ports are withdrawn while it runs. */
    private Future<Object> serve(Port p, Object request, AsgiProxy.Target target) {
        Promise<Object> call = Promise.promise();
        p.active.add(call);
        proxy.serve(request, target).onComplete(ar -> {
            if (ar.succeeded()) {
                call.tryComplete(ar.result());
            } else {
                call.tryFail(ar.cause());
            }
        });
        return call.future().andThen(ar -> p.active.remove(call));
    }

    private Future<Void> withdraw(Port p) {
        p.withdrawn = true;
        // requests under way end now: their browsers see the response cut short, Hypha's calls end
        for (Promise<Object> call : new ArrayList<>(p.active)) {
            call.tryFail(new IllegalStateException("the session's port was withdrawn (the session stopped or ended)"));
        }
        vertx.cancelTimer(p.timer);
        ports.remove(p.port.serviceId(), p);
        List<Port> siblings = bySession.get(p.sessionId);
        if (siblings != null) {
            siblings.remove(p);
            if (siblings.isEmpty()) {
                bySession.remove(p.sessionId);
            }
        }
        return unregister(p);
    }

    private Future<Void> unregister(Port p) {
        if (!p.registered || p.on == null || p.on != client) {
            p.registered = false;
            return Future.succeededFuture();
        }
        p.registered = false;
        LOG.info("session {}: port {} withdrawn", p.sessionId, p.port.port());
        status(p.sessionId, p.port.serviceId(), false, null);
        return p.on.unregisterService(p.port.serviceId()).otherwiseEmpty();
    }

    private void status(String sessionId, String serviceId, boolean published, String error) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sessionId", sessionId);
        m.put("serviceId", serviceId);
        m.put("published", published);
        m.put("error", error);
        vertx.eventBus().publish(Addresses.PORTS_STATUS, new JsonObject(m));
    }
}
