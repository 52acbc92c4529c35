package io.hypha.rpc;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;

/**
 * The sending side of large messages. Python peers refuse WebSocket messages much over
 * {@link #CHUNK_SIZE}, so a larger frame is uploaded in chunks into the receiver's
 * {@code message_cache} and processed there. Chunks are views of the one packed frame, never copies.
 */
final class ChunkedSender {

    /** Frames longer than this plus 1 KiB travel in chunks: Python peers refuse larger WebSocket messages. */
    static final int CHUNK_SIZE = 262_144;
    private static final int CHUNK_CONCURRENCY = 30;

    private final HyphaClient client;
    private final CallSessions calls;
    private final Set<String> chunkKeysInUse = new HashSet<>();

    ChunkedSender(HyphaClient client, CallSessions calls) {
        this.client = client;
        this.calls = calls;
    }

    /** Sends a packed frame, in chunks when it is too large for one message. */
    Future<Void> send(Buffer frame, String target, String parentKey) {
        if (frame.length() <= CHUNK_SIZE + 1024) {
            return client.socket().send(frame);
        }
        return sendChunked(frame, target, parentKey);
    }

    /** Uploads a large frame into the receiver's {@code message_cache} and has it processed there. */
    @SuppressWarnings("unchecked")
    private Future<Void> sendChunked(Buffer frame, String target, String parentKey) {
        // two chunked messages with the same key would collide in the receiver's cache
        boolean keyedByParent = parentKey != null && chunkKeysInUse.add(parentKey);
        String key = keyedByParent ? parentKey : HyphaClient.newId(22);
        if (!keyedByParent) {
            chunkKeysInUse.add(key);
        }
        Map<String, Object> builtIn = MethodRef.answered(target, "services.built-in.get_service");
        return calls.call(builtIn, null, List.of("built-in"), Map.of(), null).compose(d -> {
            Map<String, Object> descriptor = (Map<String, Object>) d;
            Map<String, Object> cache = (Map<String, Object>) descriptor.get("message_cache");
            Map<String, Object> config = (Map<String, Object>) descriptor.getOrDefault("config", Map.of());
            if (cache == null) {
                return Future.failedFuture(new HyphaException(target + " cannot receive large messages (no message_cache)"));
            }
            for (String name : List.of("create", "set", "append", "process", "remove")) {
                // the receiver describes its own cache; a function of anyone else there would have us call them
                if (cache.get(name) != null && !target.startsWith("*/")
                        && !(cache.get(name) instanceof RemoteMethod rm && target.equals(rm.target()))) {
                    return Future.failedFuture(new HyphaException(target + " cannot receive large messages (its message_cache is not its own)"));
                }
            }
            boolean parallel = config.get("api_version") instanceof Number n && n.intValue() >= 3;
            RemoteMethod create = (RemoteMethod) cache.get("create");
            RemoteMethod process = (RemoteMethod) cache.get("process");
            RemoteMethod remove = (RemoteMethod) cache.get("remove");
            int count = (frame.length() + CHUNK_SIZE - 1) / CHUNK_SIZE;
            return create.call(key, keyedByParent)
                    .compose(v -> parallel
                            ? uploadParallel((RemoteMethod) cache.get("set"), key, keyedByParent, frame, count)
                            : uploadSequential((RemoteMethod) cache.get("append"), key, keyedByParent, frame, 0, count))
                    .compose(v -> process.call(key, keyedByParent))
                    .recover(err -> remove.call(key).transform(x -> Future.failedFuture(err)));
        }).<Void>mapEmpty().andThen(ar -> chunkKeysInUse.remove(key));
    }

    private Future<Void> uploadParallel(RemoteMethod set, String key, boolean heartbeat, Buffer frame, int count) {
        Promise<Void> done = Promise.promise();
        int[] next = {0};
        int[] finished = {0};
        Runnable[] pump = new Runnable[1];
        pump[0] = () -> {
            while (next[0] < count && next[0] - finished[0] < CHUNK_CONCURRENCY) {
                int index = next[0]++;
                set.call(key, index, chunk(frame, index), heartbeat).onComplete(ar -> {
                    if (ar.failed()) {
                        done.tryFail(ar.cause());
                        return;
                    }
                    finished[0]++;
                    if (finished[0] == count) {
                        done.tryComplete();
                    } else {
                        pump[0].run();
                    }
                });
            }
        };
        pump[0].run();
        return done.future();
    }

    private Future<Void> uploadSequential(RemoteMethod append, String key, boolean heartbeat, Buffer frame, int index, int count) {
        if (index >= count) {
            return Future.succeededFuture();
        }
        return append.call(key, chunk(frame, index), heartbeat)
                .compose(v -> uploadSequential(append, key, heartbeat, frame, index + 1, count));
    }

    /** One chunk: a view of the packed frame, sent without copying it out first. */
    private static MsgpackCodec.FrameSlice chunk(Buffer frame, int index) {
        int from = index * CHUNK_SIZE;
        return MsgpackCodec.slice(frame, from, Math.min(frame.length(), from + CHUNK_SIZE) - from);
    }
}
