package io.hypha.rpc;

import java.net.URI;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketClientOptions;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;

/**
 * The WebSocket link to a Hypha server: handshake, control text frames, keep-alive, token refresh and
 * reconnection with backoff. It knows nothing of RPC; binary frames go to the {@link Listener}.
 * All state is touched on one Vert.x context.
 */
final class WebSocketConnection {

    interface Listener {
        void onBinary(Buffer frame);

        /** The server accepted us; on a reconnect the listener restores its registrations. A failure drops the link and retries. */
        Future<Void> onOpen(ConnectionInfo info, boolean reconnected);

        /** The link was lost; reconnection follows if enabled. */
        void onLost(String reason);

        /** Final: closed by the user or given up. */
        void onClosed(HyphaException cause);
    }

    private static final Logger LOG = LoggerFactory.getLogger(WebSocketConnection.class);
    private static final long FLAP_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final Vertx vertx;
    private final Context context;
    private final ConnectOptions options;
    private final String clientId;
    private final Listener listener;
    private final WebSocketClient wsClient;
    private final URI uri;

    private WebSocket socket;
    private ConnectionInfo info;
    private String reconnectionToken;
    private Promise<Void> connected = Promise.promise();
    private boolean userClosed;
    private boolean finished;
    private long pingTimer = -1;
    private long refreshTimer = -1;
    private long firstRefreshTimer = -1;
    private long lastPongNanos;
    private long openedAtNanos;
    private int failedAttempts;
    private String lastServerError;
    /** Outgoing binary messages beyond the send rate, oldest first, and the timer that drains them. */
    private final SendPacer pacer;

    WebSocketConnection(Vertx vertx, Context context, ConnectOptions options, String clientId, Listener listener) {
        this.vertx = vertx;
        this.context = context;
        this.options = options;
        this.clientId = clientId;
        this.listener = listener;
        this.pacer = new SendPacer(vertx, options, this::sendNow);
        this.uri = URI.create(options.webSocketUrl());
        this.wsClient = vertx.createWebSocketClient(new WebSocketClientOptions()
                .setMaxFrameSize(options.getMaxMessageBytes())
                .setMaxMessageSize(options.getMaxMessageBytes())
                .setConnectTimeout((int) options.getHandshakeTimeout().toMillis())
                .setClosingTimeout(2));
    }

    /** First connection: a refusal or an unreachable server fails it at once, without retrying. */
    Future<ConnectionInfo> open() {
        return handshake(false).compose(ws -> adopt(ws, false).map(v -> info));
    }

    ConnectionInfo info() {
        return info;
    }

    String reconnectionToken() {
        return reconnectionToken;
    }

    boolean isConnected() {
        return socket != null && !socket.isClosed();
    }

    /**
     * Sends a binary frame. While the link is down it waits for the reconnection (bounded by the
     * handshake timeout); while registrations are being restored it goes straight out.
     */
    Future<Void> send(Buffer frame) {
        if (finished) {
            return Future.failedFuture(new HyphaException.ConnectionClosed("Connection is closed"));
        }
        return pacer.send(frame);
    }

    private Future<Void> sendNow(Buffer frame) {
        if (socket != null) {
            return socket.writeBinaryMessage(frame);
        }
        return connected.future()
                .timeout(options.getHandshakeTimeout().toMillis(), TimeUnit.MILLISECONDS)
                .recover(err -> Future.failedFuture(new HyphaException.ConnectionClosed("not connected: " + err.getMessage())))
                .compose(v -> socket.writeBinaryMessage(frame));
    }

    /** The user's disconnect: no reconnection afterwards. */
    Future<Void> close() {
        userClosed = true;
        stopTimers();
        WebSocket ws = socket;
        Future<Void> closing = ws == null ? Future.succeededFuture() : ws.close((short) 1000, "client disconnect");
        return closing.otherwiseEmpty().andThen(v -> finish(new HyphaException.ConnectionClosed("Connection is closed")))
                .eventually(() -> wsClient.close().otherwiseEmpty());
    }

    /** Test hook: drop the TCP connection without a close handshake, as a network failure would. */
    void dropAbruptly() {
        WebSocket ws = socket;
        if (ws instanceof io.vertx.core.http.impl.WebSocketImplBase<?> impl) {
            impl.channelHandlerContext().channel().close();
        } else if (ws != null) {
            ws.close((short) 4000, "dropped");
        }
    }

    private Future<WebSocket> handshake(boolean withReconnectionToken) {
        Promise<WebSocket> result = Promise.promise();
        WebSocketConnectOptions connectOptions = new WebSocketConnectOptions()
                .setHost(uri.getHost())
                .setPort(uri.getPort() > 0 ? uri.getPort() : ("wss".equals(uri.getScheme()) ? 443 : 80))
                .setSsl("wss".equals(uri.getScheme()))
                .setURI(uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath())
                .setTimeout(options.getHandshakeTimeout().toMillis());
        wsClient.connect(connectOptions).onComplete(ar -> {
            if (ar.failed()) {
                result.tryFail(new HyphaException("cannot connect to " + uri + ": " + ar.cause().getMessage(), ar.cause()));
                return;
            }
            WebSocket ws = ar.result();
            if (ws instanceof io.vertx.core.http.impl.WebSocketImplBase<?> impl
                    && !LargeFrameMaskingEncoder.install(impl.channelHandlerContext().pipeline())) {
                LOG.debug("no WebSocket frame encoder found to replace; large frames are masked by Netty's");
            }
            long timer = vertx.setTimer(options.getHandshakeTimeout().toMillis(), t -> {
                if (result.tryFail(new HyphaException("no connection_info from " + uri + " within "
                        + options.getHandshakeTimeout().toSeconds() + " s"))) {
                    ws.close();
                }
            });
            ws.binaryMessageHandler(frame -> {
                if (ws == socket) {
                    try {
                        listener.onBinary(frame);
                    } catch (RuntimeException | StackOverflowError | OutOfMemoryError e) {
                        LOG.warn("dropping a frame whose handling failed: {}", e.toString());
                    }
                }
                // frames routed to us before connection_info are dropped, as the reference clients do
            });
            ws.textMessageHandler(text -> {
                JsonObject json;
                try {
                    json = new JsonObject(text);
                } catch (DecodeException e) {
                    LOG.warn("ignoring a text frame that is not JSON: {}", abbreviate(text));
                    return;
                }
                String type = json.getString("type", "");
                if (!result.future().isComplete()) {
                    if ("connection_info".equals(type)) {
                        vertx.cancelTimer(timer);
                        info = ConnectionInfo.fromJson(json);
                        result.tryComplete(ws);
                    } else if ("error".equals(type)) {
                        vertx.cancelTimer(timer);
                        result.tryFail(new HyphaException.Refused(json.getString("message", "connection refused")));
                    }
                    return;
                }
                onControlFrame(type, json);
            });
            ws.closeHandler(v -> {
                vertx.cancelTimer(timer);
                if (result.tryFail(new HyphaException("connection closed during the handshake (" + ws.closeStatusCode() + " "
                        + ws.closeReason() + ")"))) {
                    return;
                }
                if (ws == socket) {
                    onSocketClosed(ws);
                }
            });
            ws.exceptionHandler(err -> LOG.debug("websocket error: {}", err.toString()));
            JsonObject auth = new JsonObject()
                    .put("client_id", clientId)
                    .put("workspace", options.getWorkspace())
                    .put("token", options.getToken())
                    .put("reconnection_token", withReconnectionToken ? reconnectionToken : null);
            ws.writeTextMessage(auth.encode()).onFailure(result::tryFail);
        });
        return result.future();
    }

    private void onControlFrame(String type, JsonObject json) {
        switch (type) {
            case "pong" -> lastPongNanos = System.nanoTime();
            case "reconnection_token" -> {
                String token = json.getString("reconnection_token");
                if (token != null) {
                    reconnectionToken = token;
                    LOG.debug("reconnection token refreshed");
                }
            }
            case "error" -> {
                lastServerError = json.getString("message");
                LOG.warn("server: {}", lastServerError);
            }
            default -> LOG.debug("ignoring control frame {}", type);
        }
    }

    private Future<Void> adopt(WebSocket ws, boolean reconnected) {
        String previousWorkspace = reconnected && info != null ? info.workspace() : null;
        socket = ws;
        openedAtNanos = System.nanoTime();
        lastPongNanos = openedAtNanos;
        lastServerError = null;
        reconnectionToken = info.reconnectionToken();
        if (options.getWorkspace() != null && !options.getWorkspace().equals(info.workspace())) {
            return giveUp(ws, new HyphaException.Refused("joined workspace " + info.workspace() + " instead of " + options.getWorkspace()));
        }
        startTimers();
        return listener.onOpen(info, reconnected).onComplete(ar -> {
            if (ar.succeeded()) {
                failedAttempts = 0;
                connected.tryComplete();
            } else if (ws == socket) {
                LOG.warn("restoring the session after connecting failed: {}", ar.cause().getMessage());
                ws.close((short) 4000, "restore failed");
            }
        });
    }

    private Future<Void> giveUp(WebSocket ws, HyphaException cause) {
        userClosed = true;
        ws.close();
        finish(cause);
        return Future.failedFuture(cause);
    }

    private void onSocketClosed(WebSocket ws) {
        socket = null;
        stopTimers();
        if (!connected.future().isComplete()) {
            // a restore was in progress: keep waiters waiting for the next attempt
        } else {
            connected = Promise.promise();
        }
        if (userClosed || finished) {
            return;
        }
        String reason = lastServerError != null ? lastServerError : "closed (" + ws.closeStatusCode() + " " + ws.closeReason() + ")";
        LOG.info("connection to {} lost: {}", uri, reason);
        listener.onLost(reason);
        if (!options.isReconnect()) {
            finish(new HyphaException.ConnectionClosed("Connection was closed: " + reason));
            return;
        }
        boolean flapped = System.nanoTime() - openedAtNanos < FLAP_NANOS;
        scheduleReconnect(flapped);
    }

    private void scheduleReconnect(boolean flapped) {
        if (failedAttempts >= options.getMaxReconnectAttempts()) {
            finish(new HyphaException.ConnectionClosed("gave up reconnecting after " + failedAttempts + " attempts"));
            return;
        }
        long delayMs = reconnectDelayMs(failedAttempts, flapped);
        failedAttempts++;
        Runnable attempt = () -> reconnectOnce(true);
        if (delayMs == 0) {
            context.runOnContext(v -> attempt.run());
        } else {
            LOG.info("reconnecting in {} ms (attempt {})", delayMs, failedAttempts);
            vertx.setTimer(delayMs, t -> attempt.run());
        }
    }

    /** First retry at once, then 1 s·2^n capped, ±10 % jitter; a connection that lived under 5 s starts at 1 s. */
    long reconnectDelayMs(int attempt, boolean flapped) {
        int exponent = flapped ? attempt + 1 : attempt;
        if (exponent == 0) {
            return 0;
        }
        double base = Math.min(1000.0 * Math.pow(2, exponent - 1), options.getMaxReconnectDelay().toMillis());
        double jitter = base * 0.1 * (ThreadLocalRandom.current().nextDouble() * 2 - 1);
        return Math.max(100, Math.round(base + jitter));
    }

    private void reconnectOnce(boolean withReconnectionToken) {
        if (userClosed || finished) {
            return;
        }
        handshake(withReconnectionToken && reconnectionToken != null).onComplete(ar -> {
            if (userClosed || finished) {
                if (ar.succeeded()) {
                    ar.result().close();
                }
                return;
            }
            if (ar.succeeded()) {
                LOG.info("reconnected to {} as {}/{}", uri, info.workspace(), clientId);
                adopt(ar.result(), true);
            } else if (ar.cause() instanceof HyphaException.Refused refused) {
                if (withReconnectionToken && reconnectionToken != null) {
                    // e.g. the server restarted with another JWT secret: the plain token may still be valid
                    LOG.warn("server refused the reconnection token ({}); trying the original token", refused.getMessage());
                    reconnectOnce(false);
                } else {
                    LOG.error("server refused the connection: {}", refused.getMessage());
                    finish(refused);
                }
            } else {
                LOG.info("reconnect attempt failed: {}", ar.cause().getMessage());
                scheduleReconnect(false);
            }
        });
    }

    private void startTimers() {
        stopTimers();
        if (options.isKeepAlive()) {
            long interval = options.getPingInterval().toMillis();
            pingTimer = vertx.setPeriodic(interval, t -> keepAlive(interval));
        }
        long refreshMs = options.getTokenRefreshInterval().toMillis();
        if (info.reconnectionTokenLifeTime() > 0) {
            refreshMs = Math.min(refreshMs, (long) (info.reconnectionTokenLifeTime() * 1000 / 1.5));
        }
        long every = Math.max(1000, refreshMs);
        firstRefreshTimer = vertx.setTimer(Math.min(2000, every), t -> requestTokenRefresh());
        refreshTimer = vertx.setPeriodic(every, t -> requestTokenRefresh());
    }

    private void keepAlive(long intervalMs) {
        WebSocket ws = socket;
        if (ws == null) {
            return;
        }
        if (System.nanoTime() - lastPongNanos > TimeUnit.MILLISECONDS.toNanos(2 * intervalMs + 1000)) {
            LOG.warn("no pong for {} ms: dropping the link", 2 * intervalMs);
            dropAbruptly();
            return;
        }
        ws.writeTextMessage("{\"type\":\"ping\"}");
    }

    private void requestTokenRefresh() {
        WebSocket ws = socket;
        if (ws != null) {
            ws.writeTextMessage("{\"type\":\"refresh_token\"}");
        }
    }

    private void stopTimers() {
        if (pingTimer >= 0) {
            vertx.cancelTimer(pingTimer);
            pingTimer = -1;
        }
        if (refreshTimer >= 0) {
            vertx.cancelTimer(refreshTimer);
            refreshTimer = -1;
        }
        if (firstRefreshTimer >= 0) {
            vertx.cancelTimer(firstRefreshTimer);
            firstRefreshTimer = -1;
        }
    }

    private void finish(HyphaException cause) {
        if (finished) {
            return;
        }
        finished = true;
        stopTimers();
        pacer.close(cause);
        connected.tryFail(cause);
        listener.onClosed(cause);
    }

    private static String abbreviate(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "...";
    }
}
