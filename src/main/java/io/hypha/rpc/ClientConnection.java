package io.hypha.rpc;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;

/**
 * The client's life on its WebSocket: opening it, what the server said about us on each (re)connection,
 * restoring our services and subscriptions after a reconnection, and the end, which fails every
 * pending call and drops what other clients held of ours.
 */
final class ClientConnection {

    private static final Logger LOG = LoggerFactory.getLogger(HyphaClient.class);

    private final HyphaClient client;
    private final Vertx vertx;
    private final Context context;
    private final ConnectOptions options;
    private final List<Handler<HyphaClient.ConnectionState>> stateHandlers = new CopyOnWriteArrayList<>();
    private WebSocketConnection connection;
    private ConnectionInfo info;
    private String workspace;
    private String managerId;
    private String publicBaseUrl;
    private volatile HyphaClient.ConnectionState state = HyphaClient.ConnectionState.RECONNECTING;
    private volatile HyphaException closeCause;
    private long cacheSweepTimer = -1;

    ClientConnection(HyphaClient client, Vertx vertx, Context context, ConnectOptions options) {
        this.client = client;
        this.vertx = vertx;
        this.context = context;
        this.options = options;
    }

    /** Connects, logs in, and registers our services; fails with the server's reason when it says no. */
    Future<Void> open() {
        connection = new WebSocketConnection(vertx, context, options, client.clientId(), new WebSocketConnection.Listener() {
            @Override
            public void onBinary(Buffer frame) {
                client.incoming.handleFrame(frame);
            }

            @Override
            public Future<Void> onOpen(ConnectionInfo connectionInfo, boolean reconnected) {
                return restore(connectionInfo, reconnected);
            }

            @Override
            public void onLost(String reason) {
                setState(HyphaClient.ConnectionState.RECONNECTING);
            }

            @Override
            public void onClosed(HyphaException cause) {
                shutDown(cause);
            }
        });
        client.calls.start();
        long idleMs = options.getMessageCacheIdleTimeout().toMillis();
        cacheSweepTimer = vertx.setPeriodic(Math.max(1000, Math.min(idleMs / 4, 30_000)),
                t -> client.messageCache.dropIdleChunkCaches());
        return connection.open().<Void>mapEmpty().onFailure(err -> {
            client.calls.close("the connection could not be opened");
            vertx.cancelTimer(cacheSweepTimer);
            connection.close();
        });
    }

    WebSocketConnection socket() {
        return connection;
    }

    ConnectionInfo info() {
        return info;
    }

    String workspace() {
        return workspace;
    }

    String managerId() {
        return managerId;
    }

    String publicBaseUrl() {
        return publicBaseUrl;
    }

    HyphaClient.ConnectionState state() {
        return state;
    }

    HyphaException closeCause() {
        return closeCause;
    }

    void addStateHandler(Handler<HyphaClient.ConnectionState> handler) {
        stateHandlers.add(handler);
    }

    private void setState(HyphaClient.ConnectionState next) {
        if (state == next || state == HyphaClient.ConnectionState.CLOSED) {
            return;
        }
        state = next;
        for (Handler<HyphaClient.ConnectionState> h : stateHandlers) {
            try {
                h.handle(next);
            } catch (RuntimeException e) {
                LOG.warn("connection state handler failed", e);
            }
        }
    }

    /** On every (re)connection: who we are now, then our services and subscriptions registered again. */
    private Future<Void> restore(ConnectionInfo connectionInfo, boolean reconnected) {
        String previousManager = managerId;
        this.info = connectionInfo;
        this.workspace = connectionInfo.workspace();
        this.managerId = connectionInfo.managerId();
        this.publicBaseUrl = connectionInfo.publicBaseUrl();
        if (reconnected && previousManager != null) {
            // calls to the manager of the old connection will never be answered
            client.calls.failSessions(s -> s.promise != null && s.targetId.equals("*/" + previousManager),
                    "the connection to the server was lost before the reply");
        }
        return client.services.registerAll().compose(registered -> client.events.resubscribe().map(v -> registered))
                .onSuccess(registered -> {
                    if (reconnected) {
                        LOG.info("restored {} service(s) and {} subscription(s) as {}", registered,
                                client.events.subscriptionCount(), client.fullClientId());
                    }
                    setState(HyphaClient.ConnectionState.CONNECTED);
                }).mapEmpty();
    }

    private void shutDown(HyphaException cause) {
        closeCause = cause;
        setState(HyphaClient.ConnectionState.CLOSED);
        vertx.cancelTimer(cacheSweepTimer);
        client.calls.close(cause.getMessage());
        client.served.clear();
        client.messageCache.clear();
    }
}
