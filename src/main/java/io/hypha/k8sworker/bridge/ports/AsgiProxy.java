package io.hypha.k8sworker.bridge.ports;

import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.rpc.RemoteMethod;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.streams.WriteStream;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import io.vertx.ext.web.client.impl.ClientPhase;
import io.vertx.ext.web.client.impl.WebClientInternal;
import io.vertx.ext.web.codec.BodyCodec;
import io.vertx.ext.web.codec.spi.BodyStream;

/**
 * Serves Hypha's ASGI calls ({@code serve({"scope", "receive", "send"})}) by proxying them to a
 * session pod with the Vert.x Web Client: method, path, query and headers passed on (hop-by-hop
 * headers and the caller's Hypha credentials dropped, {@code X-Forwarded-*} set), both bodies
 * streamed chunk by chunk with back-pressure, and the pod's failures answered as 502 or 504.
 */
final class AsgiProxy {

    private static final Logger LOG = LoggerFactory.getLogger(AsgiProxy.class);

    /** RFC 9110 §7.6.1's hop-by-hop headers, and others a proxy must not pass on. */
    static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
            "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection");

    private final WebClient client;
    private final WorkerConfig.Ports settings;

    AsgiProxy(Vertx vertx, WorkerConfig.Ports settings) {
        this.settings = settings;
        WebClient web = WebClient.create(vertx, new WebClientOptions()
                // the pod's redirects, compression and user agent are the browser's business
                .setFollowRedirects(false).setDecompressionSupported(false).setUserAgentEnabled(false)
                .setKeepAlive(true).setConnectTimeout(settings.connectTimeoutSeconds() * 1000),
                new io.vertx.core.http.PoolOptions().setHttp1MaxSize(32));
        // the response head goes to the browser as soon as the pod sends it, before its body: the
        // Web Client's body codecs see only the body, its interceptors the head
        ((WebClientInternal) web).addInterceptor(ctx -> {
            if (ctx.phase() == ClientPhase.RECEIVE_RESPONSE && ctx.request().bodyCodec() instanceof ToAsgi codec) {
                HttpClientResponse response = ctx.clientResponse();
                codec.response = response;
                codec.sender.start(response.statusCode(), responseHeaders(response.headers()));
            }
            ctx.next();
        });
        this.client = web;
    }

    void close() {
        client.close();
    }

    /** Where one published port answers: the pod's address may change when its pod is replaced. */
    record Target(Supplier<String> host, int port) {
    }

    /** One ASGI call; completes when the whole response has been handed to Hypha. */
    @SuppressWarnings("unchecked")
    Future<Object> serve(Object request, Target target) {
        if (!(request instanceof Map<?, ?> r) || !(r.get("scope") instanceof Map<?, ?> scopeRaw)
                || !(r.get("receive") instanceof RemoteMethod receive) || !(r.get("send") instanceof RemoteMethod send)) {
            return Future.failedFuture(new IllegalArgumentException("serve expects {scope, receive, send} as Hypha's ASGI apps get them"));
        }
        Map<String, Object> scope = (Map<String, Object>) scopeRaw;
        AsgiSender sender = new AsgiSender(send);
        if (!"http".equals(scope.get("type"))) {
            return answer(sender, 501, "only HTTP requests are proxied to session ports, not " + scope.get("type"));
        }
        String host = target.host().get();
        if (host == null) {
            return answer(sender, 503, "the session's pod has no address (it is not running)");
        }
        HttpMethod method;
        try {
            method = HttpMethod.valueOf(String.valueOf(scope.get("method")).toUpperCase(Locale.ROOT));
        } catch (RuntimeException e) {
            return answer(sender, 400, "unsupported method");
        }
        String query = text(scope.get("query_string"));
        String uri = encodePath(String.valueOf(scope.getOrDefault("path", "/"))) + (query.isEmpty() ? "" : "?" + query);
        HttpRequest<Void> upstream = client.request(method, target.port(), host, uri)
                .connectTimeout(settings.connectTimeoutSeconds() * 1000L)
                .idleTimeout(settings.readTimeoutSeconds() * 1000L)
                .as(new ToAsgi(sender));
        forwardHeaders(scope, upstream.headers());
        LOG.debug("{} {} to {}:{}", method, uri, host, target.port());
        // a request that says it has no body (no length, not chunked: a GET) is sent at once, without asking
        // Hypha for its empty body: every message counts against the connection's rate (hypha.sendRatePerSecond)
        Future<Object> firstChunk = hasBody(scope)
                ? receive.call() : Future.succeededFuture(Map.of("type", "http.request", "body", new byte[0], "more_body", false));
        return firstChunk.compose(first -> {
            if (!(first instanceof Map<?, ?> m) || !"http.request".equals(m.get("type"))) {
                return Future.failedFuture(new IllegalStateException("the client disconnected before its request was read"));
            }
            Buffer body = Buffer.buffer(bytes(m.get("body")));
            if (Boolean.TRUE.equals(m.get("more_body"))) {
                // without the browser's content-length the Web Client sends the body chunked
                return upstream.sendStream(new AsgiRequestBody(receive, body, false));
            }
            // the Web Client sets the length of a body it has whole
            upstream.headers().remove("content-length");
            return body.length() == 0 && !method.equals(HttpMethod.POST) && !method.equals(HttpMethod.PUT)
                    && !method.equals(HttpMethod.PATCH) ? upstream.send() : upstream.sendBuffer(body);
        }).<Object>map(response -> {
            LOG.debug("{} {} to {}:{} answered {}", method, uri, host, target.port(), response.statusCode());
            return null;
        }).recover(err -> {
            if (sender.failed()) {
                // the browser went away: nothing more to tell it
                return Future.succeededFuture();
            }
            if (sender.started()) {
                // the head is out: only cutting the body short tells the browser it is incomplete
                LOG.debug("proxying to {}:{} ended early: {}", host, target.port(), err.toString());
                return Future.failedFuture(new IllegalStateException("the session's response ended early: " + reason(err)));
            }
            int status = isTimeout(err) ? 504 : 502;
            LOG.debug("proxying to {}:{} failed: {}", host, target.port(), err.toString());
            return answer(sender, status, (status == 504 ? "Gateway Timeout: " : "Bad Gateway: ") + reason(err));
        });
    }

    /** Whether the browser's request has a body: a non-zero content-length, or a transfer-encoding (chunked). */
    static boolean hasBody(Map<String, Object> scope) {
        if (scope.get("headers") instanceof List<?> headers) {
            for (Object h : headers) {
                if (h instanceof List<?> pair && pair.size() == 2) {
                    String name = text(pair.get(0)).toLowerCase(Locale.ROOT);
                    if (name.equals("transfer-encoding") || name.equals("content-length") && !text(pair.get(1)).trim().equals("0")) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /** A short answer of the worker's own (the pod was never reached, or the request cannot be proxied). */
    private static Future<Object> answer(AsgiSender sender, int status, String text) {
        sender.start(status, List.of(header("content-type", "text/plain; charset=utf-8")));
        sender.write(Buffer.buffer(text + "\n"));
        return sender.finish().map(v -> null);
    }

    static boolean isTimeout(Throwable err) {
        for (Throwable t = err; t != null; t = t.getCause()) {
            String name = t.getClass().getSimpleName().toLowerCase(Locale.ROOT);
            String message = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (name.contains("timeout") || message.contains("timeout period") || message.contains("timed out")) {
                return true;
            }
        }
        return false;
    }

    private String reason(Throwable err) {
        if (isTimeout(err)) {
            return "the session's web server did not answer within " + settings.readTimeoutSeconds() + " s";
        }
        for (Throwable t = err; t != null; t = t.getCause()) {
            if (t instanceof ConnectException) {
                return "the session's web server refused the connection";
            }
        }
        return "the session's web server closed the connection";
    }

    /** The browser's headers for the pod: hop-by-hop ones and Hypha's credentials dropped, X-Forwarded-* added. */
    @SuppressWarnings("unchecked")
    static void forwardHeaders(Map<String, Object> scope, MultiMap out) {
        String originalHost = null;
        String forwardedFor = null;
        if (scope.get("headers") instanceof List<?> headers) {
            for (Object h : headers) {
                if (!(h instanceof List<?> pair) || pair.size() != 2) {
                    continue;
                }
                String name = text(pair.get(0)).toLowerCase(Locale.ROOT);
                String value = text(pair.get(1));
                if (HOP_BY_HOP.contains(name) || name.equals("expect")) {
                    continue;
                }
                switch (name) {
                    case "host" -> originalHost = value;
                    case "x-forwarded-for" -> forwardedFor = value;
                    // the caller's Hypha token is for Hypha, not for the session's code
                    case "authorization" -> {
                        if (!value.regionMatches(true, 0, "Bearer ", 0, 7)) {
                            out.add(name, value);
                        }
                    }
                    case "cookie" -> {
                        String kept = withoutCookie(value, "access_token");
                        if (!kept.isEmpty()) {
                            out.add(name, kept);
                        }
                    }
                    default -> out.add(name, value);
                }
            }
        }
        String clientHost = scope.get("client") instanceof List<?> c && !c.isEmpty() && c.get(0) != null ? c.get(0).toString() : null;
        if (clientHost != null) {
            out.set("x-forwarded-for", forwardedFor == null ? clientHost : forwardedFor + ", " + clientHost);
        }
        out.set("x-forwarded-proto", String.valueOf(scope.getOrDefault("scheme", "http")));
        if (originalHost != null) {
            out.set("x-forwarded-host", originalHost);
        }
        String root = scope.get("root_path") instanceof String s ? s : "";
        out.set("x-forwarded-prefix", root + "/" + scope.get("workspace") + "/apps/" + scope.get("service_id"));
    }

    static String withoutCookie(String header, String name) {
        List<String> kept = new ArrayList<>();
        for (String part : header.split(";")) {
            String p = part.trim();
            if (!p.isEmpty() && !p.startsWith(name + "=")) {
                kept.add(p);
            }
        }
        return String.join("; ", kept);
    }

    static List<List<byte[]>> responseHeaders(MultiMap headers) {
        List<List<byte[]>> out = new ArrayList<>();
        headers.forEach(e -> {
            String name = e.getKey().toLowerCase(Locale.ROOT);
            if (!HOP_BY_HOP.contains(name)) {
                out.add(header(name, e.getValue()));
            }
        });
        return out;
    }

    private static List<byte[]> header(String name, String value) {
        return List.of(name.getBytes(StandardCharsets.ISO_8859_1), value.getBytes(StandardCharsets.ISO_8859_1));
    }

    /**
     * The path as a request target: Hypha hands it over decoded, so everything but the characters a
     * path may hold as they are is percent-encoded again (a '%' too: it was one in the request).
     */
    static String encodePath(String path) {
        StringBuilder out = new StringBuilder();
        for (byte b : (path.startsWith("/") ? path : "/" + path).getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "-._~!$&'()*+,;=:@/".indexOf(c) >= 0) {
                out.append((char) c);
            } else {
                out.append('%').append(String.format("%02X", c));
            }
        }
        return out.toString();
    }

    static byte[] bytes(Object v) {
        if (v instanceof byte[] b) {
            return b;
        }
        if (v instanceof String s) {
            return s.getBytes(StandardCharsets.UTF_8);
        }
        return new byte[0];
    }

    private static String text(Object v) {
        if (v instanceof byte[] b) {
            return new String(b, StandardCharsets.ISO_8859_1);
        }
        return v == null ? "" : v.toString();
    }

    /** The pod's response body, into the ASGI sender; pausing the pod while a chunk is on its way. */
    static final class ToAsgi implements BodyCodec<Void> {
        final AsgiSender sender;
        HttpClientResponse response;

        ToAsgi(AsgiSender sender) {
            this.sender = sender;
        }

        @Override
        public BodyStream<Void> stream() {
            return new BodyStream<>() {
                private final io.vertx.core.Promise<Void> result = io.vertx.core.Promise.promise();

                @Override
                public Future<Void> result() {
                    return result.future();
                }

                @Override
                public void handle(Throwable failure) {
                    result.tryFail(failure);
                }

                @Override
                public WriteStream<Buffer> exceptionHandler(Handler<Throwable> handler) {
                    return this;
                }

                @Override
                public Future<Void> write(Buffer data) {
                    if (sender.failed()) {
                        return Future.failedFuture("the client went away");
                    }
                    sender.write(data);
                    return Future.succeededFuture();
                }

                /**
                 * The Web Client ends the body stream when the pod's response ends and also when it
                 * fails: only a response received whole ends the ASGI body, a failed one is cut off.
                 */
                @Override
                public Future<Void> end() {
                    Future<Void> received;
                    try {
                        // a response not yet ended has failed: its end future carries the failure
                        received = response == null ? Future.succeededFuture() : response.end();
                    } catch (IllegalStateException ended) {
                        // Vert.x refuses end() on a response that has ended: it was received whole
                        received = Future.succeededFuture();
                    }
                    return received.compose(v -> sender.finish()).onComplete(result);
                }

                @Override
                public WriteStream<Buffer> setWriteQueueMaxSize(int maxSize) {
                    return this;
                }

                @Override
                public boolean writeQueueFull() {
                    return sender.full();
                }

                @Override
                public WriteStream<Buffer> drainHandler(Handler<Void> handler) {
                    sender.drainHandler(handler);
                    return this;
                }
            };
        }
    }
}
