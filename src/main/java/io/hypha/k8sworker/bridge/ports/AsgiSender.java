package io.hypha.k8sworker.bridge.ports;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.hypha.rpc.RemoteMethod;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;

/**
 * The response side of one ASGI request: {@code http.response.start}, then the body in chunks of at
 * most {@link #CHUNK_BYTES}, each through Hypha's {@code send} callback. One message is under way at
 * a time; what the pod sends meanwhile gathers up to a chunk and then holds the pod back (the
 * upstream is paused while {@link #full()}), so a response of any size takes at most two chunks of
 * memory.
 */
final class AsgiSender {

    /**
     * A chunk fits in one RPC frame of the client (its large-message threshold is 256 KiB), so it
     * goes as a single message: the connection's message rate, not its bandwidth, bounds a download.
     */
    static final int CHUNK_BYTES = 240 * 1024;

    private final RemoteMethod send;
    private Buffer pending = Buffer.buffer();
    private boolean inFlight;
    private boolean started;
    private boolean finishing;
    private boolean failed;
    private Promise<Void> finished;
    private Handler<Void> drainHandler;
    private final List<Map<String, Object>> startQueue = new ArrayList<>();

    AsgiSender(RemoteMethod send) {
        this.send = send;
    }

    /** Whether the response head went out (an error can then only cut the body short). */
    boolean started() {
        return started;
    }

    void start(int status, List<List<byte[]>> headers) {
        started = true;
        Map<String, Object> message = new LinkedHashMap<>();
        message.put("type", "http.response.start");
        message.put("status", status);
        message.put("headers", headers);
        startQueue.add(message);
        pump();
    }

    /** Queues body bytes; {@link #full()} tells the producer to wait for the drain handler. */
    void write(Buffer data) {
        pending.appendBuffer(data);
        pump();
    }

    boolean full() {
        return pending.length() >= CHUNK_BYTES;
    }

    void drainHandler(Handler<Void> handler) {
        this.drainHandler = handler;
    }

    /** The last chunk ({@code more_body: false}); completes once Hypha has taken it. */
    Future<Void> finish() {
        if (finished == null) {
            finished = Promise.promise();
            finishing = true;
            pump();
        }
        return finished.future();
    }

    private void pump() {
        if (inFlight || failed) {
            return;
        }
        Map<String, Object> message;
        if (!startQueue.isEmpty()) {
            message = startQueue.remove(0);
        } else if (pending.length() > 0 || finishing) {
            boolean last = finishing && pending.length() <= CHUNK_BYTES;
            Buffer chunk = pending.length() <= CHUNK_BYTES ? pending : pending.slice(0, CHUNK_BYTES).copy();
            pending = pending.length() <= CHUNK_BYTES ? Buffer.buffer() : pending.slice(CHUNK_BYTES, pending.length()).copy();
            message = new LinkedHashMap<>();
            message.put("type", "http.response.body");
            message.put("body", chunk.getBytes());
            message.put("more_body", !last);
            if (last) {
                finishing = false;
            }
        } else {
            return;
        }
        boolean last = Boolean.FALSE.equals(message.get("more_body"));
        inFlight = true;
        send.call(message).onComplete(ar -> {
            inFlight = false;
            if (ar.failed()) {
                failed = true;
                if (finished == null) {
                    finished = Promise.promise();
                }
                finished.tryFail(ar.cause());
                return;
            }
            if (last) {
                finished.tryComplete();
                return;
            }
            if (!full() && drainHandler != null) {
                Handler<Void> h = drainHandler;
                h.handle(null);
            }
            pump();
        });
    }

    /** Whether Hypha refused a message (the browser went away): the pod's response should be dropped. */
    boolean failed() {
        return failed;
    }
}
