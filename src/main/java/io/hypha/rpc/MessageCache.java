package io.hypha.rpc;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The receiving side of large messages: the {@code message_cache} functions of our built-in
 * service, into which a sender uploads a frame in chunks and then has it processed. Each sender
 * sees only its own keys, and what all senders may hold at once is bounded.
 */
final class MessageCache {

    private static final Logger LOG = LoggerFactory.getLogger(HyphaClient.class);

    private final HyphaClient client;
    private final ConnectOptions options;
    /** Large messages being received, keyed by {@link #cacheKey}: each sender sees only its own keys. */
    private final Map<String, ChunkCache> messageCache = new HashMap<>();
    private final Map<String, Long> cachedBytesBySender = new HashMap<>();
    private long cachedBytes;

    MessageCache(HyphaClient client, ConnectOptions options) {
        this.client = client;
        this.options = options;
    }

    /** A large message arriving in chunks from one sender. */
    private static final class ChunkCache {
        final String owner;
        final TreeMap<Long, byte[]> chunks = new TreeMap<>();
        long nextIndex;
        long bytes;
        long lastUsedNanos = System.nanoTime();

        ChunkCache(String owner) {
            this.owner = owner;
        }
    }

    /** What an empty cache entry is charged, so that a sender cannot hold memory with many empty keys. */
    private static final long CACHE_KEY_COST = 1024;

    /** The {@code message_cache} member of the built-in service. */
    Map<String, Object> functions() {
        Map<String, Object> cache = new LinkedHashMap<>();
        cache.put("create", RpcFunction.of("create", inv -> {
            String sender = inv.context().from();
            if (!mayUseMessageCache(sender)) {
                LOG.warn("refusing a large message from {}: it neither may call our services nor answers a call of ours", sender);
                throw new SecurityException("large messages are accepted only from clients that may call a service of "
                        + client.clientId() + " or that answer one of its calls");
            }
            String key = inv.stringArg("key");
            touchSession(key, inv);
            String cacheKey = cacheKey(sender, key);
            if (messageCache.containsKey(cacheKey) && !Boolean.TRUE.equals(inv.arg("overwrite"))) {
                throw new IllegalStateException("Message with the same key (" + key + ") already exists in the cache store");
            }
            dropChunks(cacheKey);
            ChunkCache c = new ChunkCache(sender);
            refusingReplyWhenFull(inv, () -> charge(c, CACHE_KEY_COST));
            messageCache.put(cacheKey, c);
            return null;
        }).param("key").optionalParam("heartbeat", false).optionalParam("overwrite", false));
        cache.put("append", RpcFunction.of("append", inv -> {
            ChunkCache c = chunkCache(inv);
            refusingReplyWhenFull(inv, () -> storeChunk(c, c.nextIndex, bytesArg(inv, "data")));
            c.nextIndex++;
            return null;
        }).param("key").param("data").optionalParam("heartbeat", false));
        cache.put("set", RpcFunction.of("set", inv -> {
            ChunkCache c = chunkCache(inv);
            long index = inv.longArg("index");
            if (index < 0) {
                throw new IllegalArgumentException("index must not be negative");
            }
            refusingReplyWhenFull(inv, () -> storeChunk(c, index, bytesArg(inv, "data")));
            c.nextIndex = Math.max(c.nextIndex, index + 1);
            return null;
        }).param("key").param("index").param("data").optionalParam("heartbeat", false));
        cache.put("process", RpcFunction.of("process", inv -> {
            ChunkCache c = chunkCache(inv);
            dropChunks(cacheKey(c.owner, inv.stringArg("key")));
            // read across the chunks as they came: joining them first would copy the whole message
            List<byte[]> chunks = new ArrayList<>(c.chunks.values());
            c.chunks.clear();
            dispatchReassembled(chunks, inv.context());
            return null;
        }).param("key").optionalParam("heartbeat", false));
        cache.put("remove", RpcFunction.of("remove", inv -> {
            if (dropChunks(cacheKey(inv.context().from(), inv.stringArg("key"))) == null) {
                throw new IllegalArgumentException("Message with key " + inv.stringArg("key") + " does not exist");
            }
            return null;
        }).param("key"));
        return cache;
    }

    /** Everything held goes: the connection ended for good. */
    void clear() {
        messageCache.clear();
        cachedBytesBySender.clear();
        cachedBytes = 0;
    }

    /**
     * A chunk the full cache refuses: when it belongs to the reply of a call of ours, that call
     * fails now with the reason (its sender could not deliver the reply) instead of at its timeout.
     */
    private void refusingReplyWhenFull(Invocation inv, Runnable store) {
        try {
            store.run();
        } catch (IllegalStateException full) {
            String key = inv.stringArg("key");
            String sender = inv.context().from();
            CallSession s = Boolean.TRUE.equals(inv.arg("heartbeat")) ? client.calls.get(key) : null;
            if (s != null && s.promise != null && sender.equals(HyphaClient.qualify(s.targetId, client.workspace()))) {
                // the reply is lost either way: its chunks so far go with it
                dropChunks(cacheKey(sender, key));
                client.calls.sessions.remove(s.id);
                client.calls.cancelTimer(s);
                s.promise.tryFail(new HyphaException("the reply of " + s.description + " could not be received: more data from "
                        + sender + " than this client holds at once (maxCachedBytesPerSender, maxCachedBytes)"));
            }
            throw full;
        }
    }

    private static String cacheKey(String sender, String key) {
        return sender + "\n" + key;
    }

    /**
     * Chunks are taken from callers of a service of ours (they may send large arguments) and from
     * the targets of our own pending calls (large replies), nobody else.
     */
    private boolean mayUseMessageCache(String sender) {
        if (sender == null || sender.equals(client.fullClientId())) {
            return false;
        }
        String senderWs = sender.contains("/") ? sender.substring(0, sender.indexOf('/')) : client.workspace();
        for (ServiceDefinition svc : client.services.all()) {
            if (!"built-in".equals(svc.id()) && client.services.mayCall(svc, sender, senderWs)) {
                return true;
            }
        }
        return client.calls.awaitsReplyFrom(sender);
    }

    private void storeChunk(ChunkCache c, long index, byte[] data) {
        byte[] previous = c.chunks.get(index);
        charge(c, data.length - (previous == null ? 0 : previous.length));
        c.chunks.put(index, data);
    }

    /** Books bytes to a cache entry, refusing them when the sender's or the total ceiling would be passed. */
    private void charge(ChunkCache c, long delta) {
        long senderBytes = cachedBytesBySender.getOrDefault(c.owner, 0L);
        if (delta > 0 && (senderBytes + delta > options.effectiveMaxCachedBytesPerSender()
                || cachedBytes + delta > options.effectiveMaxCachedBytes())) {
            LOG.warn("refusing a chunk from {}: the large-message cache is full ({} bytes from this sender, {} in all)",
                    c.owner, senderBytes, cachedBytes);
            throw new IllegalStateException("too much data in large messages being received; try again later");
        }
        c.bytes += delta;
        cachedBytes += delta;
        c.lastUsedNanos = System.nanoTime();
        if (senderBytes + delta <= 0) {
            cachedBytesBySender.remove(c.owner);
        } else {
            cachedBytesBySender.put(c.owner, senderBytes + delta);
        }
    }

    private ChunkCache dropChunks(String cacheKey) {
        ChunkCache c = messageCache.remove(cacheKey);
        if (c != null) {
            long senderBytes = cachedBytesBySender.getOrDefault(c.owner, 0L) - c.bytes;
            if (senderBytes <= 0) {
                cachedBytesBySender.remove(c.owner);
            } else {
                cachedBytesBySender.put(c.owner, senderBytes);
            }
            cachedBytes -= c.bytes;
        }
        return c;
    }

    void dropIdleChunkCaches() {
        long idleNanos = options.getMessageCacheIdleTimeout().toNanos();
        long now = System.nanoTime();
        List<String> idle = new ArrayList<>();
        messageCache.forEach((k, c) -> {
            if (now - c.lastUsedNanos > idleNanos) {
                idle.add(k);
            }
        });
        for (String k : idle) {
            ChunkCache c = dropChunks(k);
            LOG.info("dropped an unfinished large message of {} bytes from {}: no chunk for {} s", c.bytes, c.owner,
                    options.getMessageCacheIdleTimeout().toSeconds());
        }
    }

    private ChunkCache chunkCache(Invocation inv) {
        String key = inv.stringArg("key");
        touchSession(key, inv);
        ChunkCache c = messageCache.get(cacheKey(inv.context().from(), key));
        if (c == null) {
            throw new IllegalArgumentException("Message with key " + key + " does not exist");
        }
        c.lastUsedNanos = System.nanoTime();
        return c;
    }

    /** Chunks of a reply for one of our calls keep that call alive while they arrive. */
    private void touchSession(String key, Invocation inv) {
        if (!Boolean.TRUE.equals(inv.arg("heartbeat"))) {
            return;
        }
        CallSession s = client.calls.get(key);
        if (s == null) {
            throw new IllegalStateException("session does not exist anymore: " + key);
        }
        if (inv.context().from().equals(HyphaClient.qualify(s.targetId, client.workspace()))) {
            client.calls.resetTimer(s);
        }
    }

    private static byte[] bytesArg(Invocation inv, String name) {
        Object v = inv.arg(name);
        if (v instanceof byte[] b) {
            return b;
        }
        throw new IllegalArgumentException("chunk data must be bytes");
    }

    /** A reassembled message is stamped with the sender identity of the {@code process} call, which the server vouched for. */
    private void dispatchReassembled(List<byte[]> chunks, CallContext ctx) {
        MsgpackCodec.Frame frame = MsgpackCodec.unpackFrame(chunks);
        Map<String, Object> main = new LinkedHashMap<>(frame.main());
        Map<String, Object> stamp = ctx.raw();
        for (String k : List.of("from", "to", "ws", "user")) {
            main.put(k, stamp.get(k));
        }
        client.incoming.dispatch(new MsgpackCodec.Frame(main, frame.extra()));
    }

    // ------------------------------------------------------------------ calling others
}
