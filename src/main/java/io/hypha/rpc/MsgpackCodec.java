package io.hypha.rpc;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePackException;
import org.msgpack.core.MessagePacker;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.core.buffer.MessageBuffer;
import org.msgpack.core.buffer.MessageBufferInput;
import org.msgpack.core.buffer.MessageBufferOutput;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.buffer.BufferInternal;

/**
 * Plain values to and from msgpack, following the type rules that Python's {@code msgpack}
 * (use_bin_type=True, raw=False, strict_map_key=True) expects.
 *
 * <table>
 *   <caption>Java ↔ msgpack</caption>
 *   <tr><th>Java (sent)</th><th>msgpack</th><th>Java (received)</th></tr>
 *   <tr><td>null</td><td>nil</td><td>null</td></tr>
 *   <tr><td>Boolean</td><td>bool</td><td>Boolean</td></tr>
 *   <tr><td>Byte, Short, Integer, Long, BigInteger (−2^63 … 2^64−1)</td><td>int (smallest form)</td>
 *       <td>Long; BigInteger only above Long.MAX_VALUE</td></tr>
 *   <tr><td>Float, Double (NaN and infinities kept)</td><td>float64</td><td>Double (float32 widened)</td></tr>
 *   <tr><td>String, Character, Enum (its name)</td><td>str</td><td>String</td></tr>
 *   <tr><td>byte[], ByteBuffer, Vert.x Buffer</td><td>bin</td><td>byte[]</td></tr>
 *   <tr><td>List, Collection, Object[]</td><td>array</td><td>ArrayList</td></tr>
 *   <tr><td>Map with String keys</td><td>map</td><td>LinkedHashMap (non-string keys received become strings)</td></tr>
 *   <tr><td>Instant</td><td>str (ISO-8601)</td><td>—</td></tr>
 *   <tr><td>—</td><td>ext −1 (timestamp)</td><td>Instant</td></tr>
 *   <tr><td>—</td><td>other ext</td><td>{@link Extension}</td></tr>
 * </table>
 *
 * Functions, errors and remote references are turned into {@code _rtype} maps by {@link HyphaClient}
 * before they reach this codec; anything else is refused with {@link IllegalArgumentException}.
 */
public final class MsgpackCodec {

    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    /** Frames longer than this are refused unless the caller gives its own limit. */
    public static final int DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
    /**
     * Deeper nesting is refused: decoding and everything after it recurse, and the image runs with 512 KiB
     * stacks. As deep as callers' manifests nest in the fuzz tests (up to 300 levels) with room to spare;
     * a refused frame is dropped without an answer, so the limit must not be one an ordinary caller meets.
     */
    public static final int MAX_DEPTH = 512;
    /**
     * Values (scalars and containers) one frame may decode into. An empty map is one byte on the wire
     * and some 80 bytes on the heap, so a byte count alone does not bound memory.
     */
    public static final int MAX_VALUES = 262_144;

    /** An msgpack extension value other than the timestamp; received only, never sent. */
    public record Extension(byte type, byte[] data) {
    }

    private MsgpackCodec() {
    }

    /** One msgpack object. */
    public static byte[] pack(Object value) {
        try (MessageBufferPacker packer = MessagePack.newDefaultBufferPacker()) {
            write(packer, value);
            return packer.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("msgpack encoding failed", e);
        }
    }

    /**
     * A Hypha frame: the main map, then the optional extra map, concatenated without a length
     * prefix (the server parses only the first object and forwards the rest untouched).
     */
    public static Buffer packFrame(Map<String, ?> main, Map<String, ?> extra) {
        PiecesOutput out = new PiecesOutput();
        try (MessagePacker packer = MessagePack.newDefaultPacker(out)) {
            write(packer, main);
            if (extra != null && !extra.isEmpty()) {
                write(packer, extra);
            }
            packer.flush();
            return out.buffer();
        } catch (IOException e) {
            throw new IllegalStateException("msgpack encoding failed", e);
        }
    }

    /** Binaries longer than this are copied into pieces of their own instead of the packer's shared buffer. */
    static final int LARGE_BINARY = 16 * 1024;
    /**
     * The largest piece a large binary is copied into: below half a G1 region (1 MiB with small
     * heaps), so that no piece is a humongous object, and a whole chunk of a chunked message.
     */
    static final int PIECE_BYTES = 256 * 1024;

    /**
     * A frame's bytes as they are packed: small values fill shared pieces, large binaries are added
     * as pieces of their own; the frame is one composite buffer over them, so nothing is copied to
     * grow it or to hand it to the WebSocket.
     */
    private static final class PiecesOutput implements MessageBufferOutput {
        private final CompositeByteBuf composite = Unpooled.compositeBuffer(Integer.MAX_VALUE);
        private byte[] current;
        /** Pieces start small (most frames are) and double, so a large frame is not a thousand pieces. */
        private int pieceSize = 1024;

        @Override
        public MessageBuffer next(int minimumSize) {
            current = new byte[Math.max(minimumSize, pieceSize)];
            pieceSize = Math.min(pieceSize * 2, 64 * 1024);
            return MessageBuffer.wrap(current);
        }

        @Override
        public void writeBuffer(int length) {
            if (length > 0) {
                composite.addComponent(true, Unpooled.wrappedBuffer(current, 0, length));
            }
            current = null;
        }

        @Override
        public void write(byte[] buffer, int offset, int length) {
            composite.addComponent(true, Unpooled.wrappedBuffer(Arrays.copyOfRange(buffer, offset, offset + length)));
        }

        /** A piece handed over whole (ours alone: the codec copied it, or it is a frame being chunked). */
        @Override
        public void add(byte[] buffer, int offset, int length) {
            composite.addComponent(true, Unpooled.wrappedBuffer(buffer, offset, length));
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }

        Buffer buffer() {
            return BufferInternal.buffer(composite);
        }
    }

    /**
     * A part of a frame this client packed, sent as a binary without copying (the chunks of a large
     * message): frames are never changed once packed.
     */
    record FrameSlice(ByteBuf bytes) {
    }

    /** A slice of a packed frame, for {@link #write} to send as a binary as is. */
    static FrameSlice slice(Buffer frame, int from, int length) {
        return new FrameSlice(((BufferInternal) frame).getByteBuf().slice(from, length));
    }

    /** The first object of a frame and, when present, the second. */
    public record Frame(Map<String, Object> main, Map<String, Object> extra) {
        /** main with extra's keys merged over it, as the reference clients read a message. */
        public Map<String, Object> merged() {
            if (extra == null) {
                return main;
            }
            Map<String, Object> all = new LinkedHashMap<>(main);
            all.putAll(extra);
            return all;
        }
    }

    public static Frame unpackFrame(byte[] bytes) {
        return unpackFrame(bytes, DEFAULT_MAX_FRAME_BYTES);
    }

    /**
     * A frame from an untrusted peer: every length in it is checked against the bytes that remain
     * before anything is allocated, nesting is bounded by {@link #MAX_DEPTH} and the number of
     * values by {@link #MAX_VALUES}, so a few hostile bytes cannot make us allocate gigabytes or
     * overflow the stack. Fails with {@link IllegalArgumentException}.
     */
    public static Frame unpackFrame(byte[] bytes, int maxBytes) {
        if (bytes.length > maxBytes) {
            throw new IllegalArgumentException("frame of " + bytes.length + " bytes is over the limit of " + maxBytes);
        }
        return unpackFrame(bytes.length == 0 ? List.of() : List.of(MessageBuffer.wrap(bytes)), bytes.length);
    }

    /** A frame as received, read where it lies (no copy of the whole message first). */
    public static Frame unpackFrame(Buffer frame, int maxBytes) {
        if (frame.length() > maxBytes) {
            throw new IllegalArgumentException("frame of " + frame.length() + " bytes is over the limit of " + maxBytes);
        }
        List<MessageBuffer> parts = new ArrayList<>(2);
        for (ByteBuffer part : ((BufferInternal) frame).getByteBuf().nioBuffers()) {
            if (part.hasRemaining()) {
                parts.add(MessageBuffer.wrap(part));
            }
        }
        return unpackFrame(parts, frame.length());
    }

    /** A message that arrived in chunks, read across them (they are not joined first). */
    public static Frame unpackFrame(Collection<byte[]> chunks) {
        List<MessageBuffer> parts = new ArrayList<>(chunks.size());
        long total = 0;
        for (byte[] c : chunks) {
            if (c.length > 0) {
                parts.add(MessageBuffer.wrap(c));
                total += c.length;
            }
        }
        return unpackFrame(parts, total);
    }

    @SuppressWarnings("unchecked")
    private static Frame unpackFrame(List<MessageBuffer> parts, long length) {
        Iterator<MessageBuffer> it = parts.iterator();
        MessageBufferInput input = new MessageBufferInput() {
            @Override
            public MessageBuffer next() {
                return it.hasNext() ? it.next() : null;
            }

            @Override
            public void close() {
            }
        };
        try (MessageUnpacker unpacker = MessagePack.newDefaultUnpacker(input)) {
            BoundedReader reader = new BoundedReader(unpacker, length);
            Object main = reader.read();
            if (!(main instanceof Map)) {
                throw new IllegalArgumentException("frame does not start with a map");
            }
            Object extra = unpacker.hasNext() ? reader.read() : null;
            if (extra != null && !(extra instanceof Map)) {
                throw new IllegalArgumentException("second frame segment is not a map");
            }
            return new Frame((Map<String, Object>) main, (Map<String, Object>) extra);
        } catch (IOException | MessagePackException e) {
            throw new IllegalArgumentException("malformed msgpack frame: " + e.getMessage(), e);
        }
    }

    public static Object unpack(byte[] bytes) {
        try (MessageUnpacker unpacker = MessagePack.newDefaultUnpacker(bytes)) {
            return new BoundedReader(unpacker, bytes.length).read();
        } catch (IOException | MessagePackException e) {
            throw new IllegalArgumentException("malformed msgpack: " + e.getMessage(), e);
        }
    }

    private static void write(MessagePacker p, Object v) throws IOException {
        if (v == null) {
            p.packNil();
        } else if (v instanceof String s) {
            p.packString(s);
        } else if (v instanceof Boolean b) {
            p.packBoolean(b);
        } else if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            p.packLong(((Number) v).longValue());
        } else if (v instanceof Double || v instanceof Float) {
            p.packDouble(((Number) v).doubleValue());
        } else if (v instanceof BigInteger big) {
            if (big.compareTo(UINT64_MAX) > 0 || big.compareTo(BigInteger.valueOf(Long.MIN_VALUE)) < 0) {
                throw new IllegalArgumentException("integer out of the msgpack range (-2^63 .. 2^64-1): " + big);
            }
            p.packBigInteger(big);
        } else if (v instanceof byte[] bytes) {
            writeBinary(p, bytes);
        } else if (v instanceof FrameSlice slice) {
            p.packBinaryHeader(slice.bytes().readableBytes());
            for (ByteBuffer part : slice.bytes().nioBuffers()) {
                if (part.hasArray()) {
                    p.addPayload(part.array(), part.arrayOffset() + part.position(), part.remaining());
                } else {
                    byte[] copy = new byte[part.remaining()];
                    part.duplicate().get(copy);
                    p.addPayload(copy);
                }
            }
        } else if (v instanceof Buffer buffer) {
            writeBinary(p, buffer.getBytes());
        } else if (v instanceof ByteBuffer bb) {
            ByteBuffer copy = bb.duplicate();
            byte[] bytes = new byte[copy.remaining()];
            copy.get(bytes);
            p.packBinaryHeader(bytes.length);
            p.writePayload(bytes);
        } else if (v instanceof Map<?, ?> map) {
            p.packMapHeader(map.size());
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!(e.getKey() instanceof String key)) {
                    // Python's unpacker (strict_map_key) drops the whole message on a non-string key
                    throw new IllegalArgumentException("map keys must be strings, got " + describe(e.getKey()));
                }
                p.packString(key);
                write(p, e.getValue());
            }
        } else if (v instanceof Collection<?> list) {
            p.packArrayHeader(list.size());
            for (Object item : list) {
                write(p, item);
            }
        } else if (v instanceof Object[] array) {
            p.packArrayHeader(array.length);
            for (Object item : array) {
                write(p, item);
            }
        } else if (v instanceof Character c) {
            p.packString(c.toString());
        } else if (v instanceof Enum<?> e) {
            p.packString(e.name());
        } else if (v instanceof Instant instant) {
            p.packString(instant.toString());
        } else {
            throw new IllegalArgumentException("cannot send a value of type " + v.getClass().getName());
        }
    }

    /**
     * A binary: small ones into the shared piece, large ones copied once into pieces of their own
     * (the caller may reuse its array as soon as the call returns).
     */
    private static void writeBinary(MessagePacker p, byte[] bytes) throws IOException {
        p.packBinaryHeader(bytes.length);
        if (bytes.length < LARGE_BINARY) {
            p.writePayload(bytes);
            return;
        }
        for (int from = 0; from < bytes.length; from += PIECE_BYTES) {
            p.addPayload(Arrays.copyOfRange(bytes, from, Math.min(bytes.length, from + PIECE_BYTES)));
        }
    }

    private static String describe(Object o) {
        return o == null ? "null" : o.getClass().getSimpleName() + " " + o;
    }
}
