package io.hypha.rpc;

import java.time.Duration;
import java.util.Objects;

/** How to reach and log in to a Hypha server, and the client's timing. Fluent and mutable, like Vert.x options. */
public final class ConnectOptions {

    private String serverUrl;
    private String workspace;
    private String token;
    private String clientId;
    private Duration methodTimeout = Duration.ofSeconds(30);
    private Duration pingInterval = Duration.ofSeconds(20);
    private Duration tokenRefreshInterval = Duration.ofHours(2);
    private Duration handshakeTimeout = Duration.ofSeconds(30);
    private Duration maxReconnectDelay = Duration.ofSeconds(60);
    private int maxReconnectAttempts = 1_000_000;
    private boolean reconnect = true;
    private boolean keepAlive = true;
    private boolean heartbeats = true;
    private int maxMessageBytes = MsgpackCodec.DEFAULT_MAX_FRAME_BYTES;
    private long maxCachedBytes = -1;
    private long maxCachedBytesPerSender = -1;
    private Duration messageCacheIdleTimeout = Duration.ofMinutes(2);
    private Duration generatorIdleTimeout = Duration.ofMinutes(2);
    private boolean serveOwnCalls = true;
    private double maxSendRate = 150;
    private int sendBurst = 1500;
    private int maxQueuedSends = 10_000;

    public ConnectOptions() {
    }

    public ConnectOptions(ConnectOptions other) {
        this.serverUrl = other.serverUrl;
        this.workspace = other.workspace;
        this.token = other.token;
        this.clientId = other.clientId;
        this.methodTimeout = other.methodTimeout;
        this.pingInterval = other.pingInterval;
        this.tokenRefreshInterval = other.tokenRefreshInterval;
        this.handshakeTimeout = other.handshakeTimeout;
        this.maxReconnectDelay = other.maxReconnectDelay;
        this.maxReconnectAttempts = other.maxReconnectAttempts;
        this.reconnect = other.reconnect;
        this.keepAlive = other.keepAlive;
        this.heartbeats = other.heartbeats;
        this.maxMessageBytes = other.maxMessageBytes;
        this.maxCachedBytes = other.maxCachedBytes;
        this.maxCachedBytesPerSender = other.maxCachedBytesPerSender;
        this.messageCacheIdleTimeout = other.messageCacheIdleTimeout;
        this.generatorIdleTimeout = other.generatorIdleTimeout;
        this.serveOwnCalls = other.serveOwnCalls;
        this.maxSendRate = other.maxSendRate;
        this.sendBurst = other.sendBurst;
        this.maxQueuedSends = other.maxQueuedSends;
    }

    /** {@code http(s)://host:port[/base]} or {@code ws(s)://host:port/.../ws}; see {@link #webSocketUrl()}. */
    public ConnectOptions setServerUrl(String serverUrl) {
        this.serverUrl = serverUrl;
        return this;
    }

    /** Workspace to join; null joins the token's workspace, or the user's own. */
    public ConnectOptions setWorkspace(String workspace) {
        this.workspace = workspace;
        return this;
    }

    /** A Hypha JWT or the server's root token; null logs in anonymously. */
    public ConnectOptions setToken(String token) {
        this.token = token;
        return this;
    }

    /** Client id, {@code [A-Za-z0-9_-]+}; a random one when not set. */
    public ConnectOptions setClientId(String clientId) {
        this.clientId = clientId;
        return this;
    }

    /** How long an outgoing call may go without a reply or a heartbeat. */
    public ConnectOptions setMethodTimeout(Duration methodTimeout) {
        this.methodTimeout = Objects.requireNonNull(methodTimeout);
        return this;
    }

    /** Interval of the text-frame ping; the link counts as dead when no pong came for twice as long. */
    public ConnectOptions setPingInterval(Duration pingInterval) {
        this.pingInterval = Objects.requireNonNull(pingInterval);
        return this;
    }

    public ConnectOptions setTokenRefreshInterval(Duration tokenRefreshInterval) {
        this.tokenRefreshInterval = Objects.requireNonNull(tokenRefreshInterval);
        return this;
    }

    public ConnectOptions setHandshakeTimeout(Duration handshakeTimeout) {
        this.handshakeTimeout = Objects.requireNonNull(handshakeTimeout);
        return this;
    }

    public ConnectOptions setMaxReconnectDelay(Duration maxReconnectDelay) {
        this.maxReconnectDelay = Objects.requireNonNull(maxReconnectDelay);
        return this;
    }

    public ConnectOptions setMaxReconnectAttempts(int maxReconnectAttempts) {
        this.maxReconnectAttempts = maxReconnectAttempts;
        return this;
    }

    /** Whether a lost connection is re-established (the user's own {@code disconnect()} never is). */
    public ConnectOptions setReconnect(boolean reconnect) {
        this.reconnect = reconnect;
        return this;
    }

    /** Text pings keep the server's idle timer from closing a quiet connection; off only in tests. */
    public ConnectOptions setKeepAlive(boolean keepAlive) {
        this.keepAlive = keepAlive;
        return this;
    }

    /** Heartbeats tell callers that a long call still runs; off only in tests. */
    public ConnectOptions setHeartbeats(boolean heartbeats) {
        this.heartbeats = heartbeats;
        return this;
    }

    /**
     * Binary messages per second this client sends at most, with bursts up to {@code burst}; more wait
     * in a queue of at most {@code maxQueued} messages, beyond which a send fails. Hypha disconnects a
     * client that sends more than its limit (HYPHA_WS_MSG_RATE_LIMIT, 200 per second with bursts of
     * 2000, by default), and a service's replies are as many as its callers' calls: without pacing,
     * callers together could have the server throw the service out. Keep these below the server's.
     */
    public ConnectOptions setSendRate(double maxPerSecond, int burst, int maxQueued) {
        if (!(maxPerSecond > 0) || burst < 1 || maxQueued < 0) {
            throw new IllegalArgumentException("send rate and burst must be positive, the queue not negative");
        }
        this.maxSendRate = maxPerSecond;
        this.sendBurst = burst;
        this.maxQueuedSends = maxQueued;
        return this;
    }

    public double getMaxSendRate() {
        return maxSendRate;
    }

    public int getSendBurst() {
        return sendBurst;
    }

    public int getMaxQueuedSends() {
        return maxQueuedSends;
    }

    /**
     * Largest WebSocket message (and frame) accepted; larger ones close the link. Conforming peers
     * send anything over 257 KiB in chunks through {@code message_cache}, so the default (4 MiB) is
     * generous.
     */
    public ConnectOptions setMaxMessageBytes(int maxMessageBytes) {
        this.maxMessageBytes = maxMessageBytes;
        return this;
    }

    /**
     * Ceiling on the bytes of large incoming messages being reassembled at once, from all senders.
     * By default 1/8 of the maximum heap; a larger value is lowered to 1/4 of it, as these bytes are
     * uploaded by peers.
     */
    public ConnectOptions setMaxCachedBytes(long maxCachedBytes) {
        this.maxCachedBytes = maxCachedBytes;
        return this;
    }

    /** The configured total, or -1 for the default. */
    public long getMaxCachedBytes() {
        return maxCachedBytes;
    }

    /** The total in effect on this JVM: see {@link #setMaxCachedBytes}. */
    public long effectiveMaxCachedBytes() {
        long heap = Runtime.getRuntime().maxMemory();
        return maxCachedBytes > 0 ? Math.min(maxCachedBytes, heap / 4) : heap / 8;
    }

    /** Ceiling for one sender's large messages being reassembled; by default 1/32 of the maximum heap, at most the total. */
    public ConnectOptions setMaxCachedBytesPerSender(long maxCachedBytesPerSender) {
        this.maxCachedBytesPerSender = maxCachedBytesPerSender;
        return this;
    }

    /** The configured per-sender ceiling, or -1 for the default. */
    public long getMaxCachedBytesPerSender() {
        return maxCachedBytesPerSender;
    }

    public long effectiveMaxCachedBytesPerSender() {
        long perSender = maxCachedBytesPerSender > 0 ? maxCachedBytesPerSender : Runtime.getRuntime().maxMemory() / 32;
        return Math.min(perSender, effectiveMaxCachedBytes());
    }

    /**
     * Whether calls this client makes to its own services through the server are served. A service
     * that never calls itself turns this off, so that a function of its own which a caller managed to
     * get it to call can never run with its own rights.
     */
    public ConnectOptions setServeOwnCalls(boolean serveOwnCalls) {
        this.serveOwnCalls = serveOwnCalls;
        return this;
    }

    public boolean isServeOwnCalls() {
        return serveOwnCalls;
    }

    /** A large message whose chunks stop arriving for this long is dropped. */
    /**
     * How long a generator this client serves may wait for its consumer's next request before it is
     * closed: a consumer that vanished without a word (another workspace's, whose disconnect we are
     * not told of) must not hold the producer's resources.
     */
    public ConnectOptions setGeneratorIdleTimeout(Duration generatorIdleTimeout) {
        if (generatorIdleTimeout.isNegative() || generatorIdleTimeout.isZero()) {
            throw new IllegalArgumentException("generatorIdleTimeout must be positive");
        }
        this.generatorIdleTimeout = generatorIdleTimeout;
        return this;
    }

    public Duration getGeneratorIdleTimeout() {
        return generatorIdleTimeout;
    }

    public ConnectOptions setMessageCacheIdleTimeout(Duration messageCacheIdleTimeout) {
        if (messageCacheIdleTimeout.isNegative() || messageCacheIdleTimeout.isZero()) {
            throw new IllegalArgumentException("messageCacheIdleTimeout must be positive");
        }
        this.messageCacheIdleTimeout = messageCacheIdleTimeout;
        return this;
    }

    public Duration getMessageCacheIdleTimeout() {
        return messageCacheIdleTimeout;
    }

    public String getServerUrl() {
        return serverUrl;
    }

    public String getWorkspace() {
        return workspace;
    }

    public String getToken() {
        return token;
    }

    public String getClientId() {
        return clientId;
    }

    public Duration getMethodTimeout() {
        return methodTimeout;
    }

    public Duration getPingInterval() {
        return pingInterval;
    }

    public Duration getTokenRefreshInterval() {
        return tokenRefreshInterval;
    }

    public Duration getHandshakeTimeout() {
        return handshakeTimeout;
    }

    public Duration getMaxReconnectDelay() {
        return maxReconnectDelay;
    }

    public int getMaxReconnectAttempts() {
        return maxReconnectAttempts;
    }

    public boolean isReconnect() {
        return reconnect;
    }

    public boolean isKeepAlive() {
        return keepAlive;
    }

    public boolean isHeartbeats() {
        return heartbeats;
    }

    public int getMaxMessageBytes() {
        return maxMessageBytes;
    }

    /**
     * The WebSocket URL: {@code http://H} becomes {@code ws://H/ws}, {@code https://H} becomes
     * {@code wss://H/ws}; a {@code ws(s)://} URL is used as it is. Query strings are refused because
     * the server takes them for a legacy client and closes the connection.
     */
    public String webSocketUrl() {
        if (serverUrl == null || serverUrl.isBlank()) {
            throw new IllegalArgumentException("serverUrl is required");
        }
        String url = serverUrl.trim();
        if (url.contains("?")) {
            throw new IllegalArgumentException("serverUrl must not carry query parameters: " + url);
        }
        while (url.endsWith("/")) {
            url = url.substring(0, url.length() - 1);
        }
        if (url.startsWith("http://")) {
            return "ws://" + url.substring("http://".length()) + "/ws";
        }
        if (url.startsWith("https://")) {
            return "wss://" + url.substring("https://".length()) + "/ws";
        }
        if (url.startsWith("ws://") || url.startsWith("wss://")) {
            return url;
        }
        throw new IllegalArgumentException("serverUrl must start with http://, https://, ws:// or wss://: " + url);
    }
}
