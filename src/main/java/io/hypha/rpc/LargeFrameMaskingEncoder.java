package io.hypha.rpc;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.ContinuationWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameEncoder;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameEncoder;

/**
 * The client's WebSocket frame encoder: Netty's, except that a large data frame is masked a
 * component at a time, eight bytes a step, straight into the outgoing buffer.
 *
 * <p>A client must mask every frame it sends (RFC 6455 §5.3). Netty's encoder does it with one
 * {@code getLong} on the payload and one checked {@code writeLong} per eight bytes; on a payload
 * made of pieces (how this client packs large messages, to avoid copying them whole) every
 * {@code getLong} first looks up its piece, which made masking the largest share of the event loop's
 * CPU for 1 MiB messages. Here each piece is walked once as a {@link ByteBuffer}. Control frames and
 * small frames go through Netty's code unchanged.
 */
final class LargeFrameMaskingEncoder extends WebSocket13FrameEncoder {

    /** Below this, Netty's own masking costs next to nothing and its code stays in charge. */
    static final int LARGE_PAYLOAD = 4096;

    private static final int OPCODE_CONTINUATION = 0x0;
    private static final int OPCODE_TEXT = 0x1;
    private static final int OPCODE_BINARY = 0x2;

    LargeFrameMaskingEncoder() {
        super(true);
    }

    /** Puts this encoder in place of the one the handshake installed; returns false when there is none. */
    static boolean install(ChannelPipeline pipeline) {
        ChannelHandlerContext existing = pipeline.context(WebSocketFrameEncoder.class);
        if (existing == null) {
            return false;
        }
        if (!(existing.handler() instanceof LargeFrameMaskingEncoder)) {
            pipeline.replace(existing.name(), existing.name(), new LargeFrameMaskingEncoder());
        }
        return true;
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, WebSocketFrame msg, List<Object> out) throws Exception {
        ByteBuf data = msg.content();
        int length = data.readableBytes();
        int opcode = opcode(msg);
        if (length < LARGE_PAYLOAD || opcode < 0 || length > Integer.MAX_VALUE - 14) {
            super.encode(ctx, msg, out);
            return;
        }
        int b0 = (msg.isFinalFragment() ? 0x80 : 0) | (msg.rsv() & 0x7) << 4 | opcode;
        int headerBytes = (length <= 0xFFFF ? 4 : 10) + 4;
        ByteBuf frame = ctx.alloc().buffer(headerBytes + length);
        try {
            frame.writeByte(b0);
            if (length <= 0xFFFF) {
                frame.writeByte(0x80 | 126);
                frame.writeShort(length);
            } else {
                frame.writeByte(0x80 | 127);
                frame.writeLong(length);
            }
            // the masking key must be unpredictable to whoever chose the payload; Netty draws it the same way
            int mask = ThreadLocalRandom.current().nextInt();
            frame.writeInt(mask);
            if (frame.nioBufferCount() != 1) {
                // a buffer of several parts would hand out a copy to write into
                frame.release();
                frame = null;
                super.encode(ctx, msg, out);
                return;
            }
            ByteBuffer target = frame.nioBuffer(frame.writerIndex(), length).order(ByteOrder.BIG_ENDIAN);
            mask(data, mask, target);
            frame.writerIndex(frame.writerIndex() + length);
            out.add(frame);
            frame = null;
        } finally {
            if (frame != null) {
                frame.release();
            }
        }
    }

    /**
     * XORs the readable bytes of {@code data} with the 4-byte {@code mask}, repeated from the payload's
     * first byte on, into {@code target} from its position on (absolute puts: the position is not moved).
     */
    static void mask(ByteBuf data, int mask, ByteBuffer target) {
        int base = target.position();
        int written = 0;
        for (ByteBuffer piece : data.nioBuffers()) {
            ByteBuffer source = piece.order(ByteOrder.BIG_ENDIAN);
            int from = source.position();
            int end = source.limit();
            // the mask as it lines up with this piece's first byte
            int aligned = Integer.rotateLeft(mask, 8 * (written & 3));
            long wide = ((long) aligned << 32) | (aligned & 0xFFFF_FFFFL);
            int s = from;
            int t = base + written;
            for (; s <= end - 8; s += 8, t += 8) {
                target.putLong(t, source.getLong(s) ^ wide);
            }
            for (; s < end; s++, t++) {
                target.put(t, (byte) (source.get(s) ^ (aligned >>> 24)));
                aligned = Integer.rotateLeft(aligned, 8);
            }
            written = t - base;
        }
    }

    /** The data frames this encoder masks itself; -1 for the rest (control frames). */
    private static int opcode(WebSocketFrame msg) {
        if (msg instanceof BinaryWebSocketFrame) {
            return OPCODE_BINARY;
        }
        if (msg instanceof TextWebSocketFrame) {
            return OPCODE_TEXT;
        }
        if (msg instanceof ContinuationWebSocketFrame) {
            return OPCODE_CONTINUATION;
        }
        return -1;
    }
}
