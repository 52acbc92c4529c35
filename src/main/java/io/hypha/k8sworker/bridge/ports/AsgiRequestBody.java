package io.hypha.k8sworker.bridge.ports;

import java.util.Map;

import io.hypha.rpc.RemoteMethod;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.streams.ReadStream;

/**
 * The request body of one ASGI request as a stream for the Web Client: each chunk is pulled with
 * Hypha's {@code receive} callback only when the pod's connection can take it, so an upload of any
 * size holds one chunk at a time.
 */
final class AsgiRequestBody implements ReadStream<Buffer> {

    private final RemoteMethod receive;
    private Buffer first;
    private boolean firstWasLast;
    private Handler<Buffer> handler;
    private Handler<Void> endHandler;
    private Handler<Throwable> exceptionHandler;
    private long demand = Long.MAX_VALUE;
    private boolean receiving;
    private boolean ended;

    /** {@code first} is the chunk already received (the proxy reads one to see whether a body follows). */
    AsgiRequestBody(RemoteMethod receive, Buffer first, boolean firstWasLast) {
        this.receive = receive;
        this.first = first;
        this.firstWasLast = firstWasLast;
    }

    @Override
    public ReadStream<Buffer> exceptionHandler(Handler<Throwable> h) {
        this.exceptionHandler = h;
        return this;
    }

    @Override
    public ReadStream<Buffer> handler(Handler<Buffer> h) {
        this.handler = h;
        pump();
        return this;
    }

    @Override
    public ReadStream<Buffer> pause() {
        demand = 0;
        return this;
    }

    @Override
    public ReadStream<Buffer> resume() {
        return fetch(Long.MAX_VALUE);
    }

    @Override
    public ReadStream<Buffer> fetch(long amount) {
        demand = amount == Long.MAX_VALUE || demand + amount < 0 ? Long.MAX_VALUE : demand + amount;
        pump();
        return this;
    }

    @Override
    public ReadStream<Buffer> endHandler(Handler<Void> h) {
        this.endHandler = h;
        pump();
        return this;
    }

    private void emit(Buffer chunk, boolean last) {
        if (demand != Long.MAX_VALUE) {
            demand--;
        }
        if (chunk.length() > 0 && handler != null) {
            handler.handle(chunk);
        }
        if (last) {
            ended = true;
            if (endHandler != null) {
                endHandler.handle(null);
            }
        }
    }

    private void pump() {
        if (handler == null || ended || receiving || demand <= 0) {
            return;
        }
        if (first != null) {
            Buffer chunk = first;
            first = null;
            emit(chunk, firstWasLast);
            pump();
            return;
        }
        receiving = true;
        receive.call().onComplete(ar -> {
            receiving = false;
            if (ar.failed()) {
                fail(ar.cause());
                return;
            }
            if (!(ar.result() instanceof Map<?, ?> message) || !"http.request".equals(message.get("type"))) {
                // http.disconnect: the browser went away mid-upload
                fail(new IllegalStateException("the client disconnected during the upload"));
                return;
            }
            emit(Buffer.buffer(AsgiProxy.bytes(message.get("body"))), !Boolean.TRUE.equals(message.get("more_body")));
            pump();
        });
    }

    private void fail(Throwable t) {
        ended = true;
        if (exceptionHandler != null) {
            exceptionHandler.handle(t);
        }
    }
}
