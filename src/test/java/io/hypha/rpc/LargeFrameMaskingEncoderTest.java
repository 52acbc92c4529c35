package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.ContinuationWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameDecoder;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameEncoder;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;

/**
 * Frames masked by {@link LargeFrameMaskingEncoder} are read back by Netty's own server-side decoder
 * (which insists on masked frames), whatever pieces the payload is made of.
 */
class LargeFrameMaskingEncoderTest {

    private static final Random RANDOM = new Random(17);

    /** A payload of random bytes in pieces of the given sizes (odd ones: the mask must carry over). */
    private static CompositeByteBuf pieces(byte[] bytes, int... sizes) {
        CompositeByteBuf composite = Unpooled.compositeBuffer(Integer.MAX_VALUE);
        int from = 0;
        for (int i = 0; from < bytes.length; i++) {
            int size = Math.min(bytes.length - from, sizes[i % sizes.length]);
            composite.addComponent(true, Unpooled.wrappedBuffer(bytes, from, size));
            from += size;
        }
        return composite;
    }

    private static byte[] random(int length) {
        byte[] bytes = new byte[length];
        RANDOM.nextBytes(bytes);
        return bytes;
    }

    /** The bytes our encoder puts on the wire for one frame. */
    private static ByteBuf encode(WebSocketFrame frame) {
        EmbeddedChannel channel = new EmbeddedChannel(new LargeFrameMaskingEncoder());
        assertThat(channel.writeOutbound(frame)).isTrue();
        CompositeByteBuf wire = Unpooled.compositeBuffer(Integer.MAX_VALUE);
        for (ByteBuf part; (part = channel.readOutbound()) != null; ) {
            wire.addComponent(true, part);
        }
        channel.finishAndReleaseAll();
        return wire;
    }

    private static WebSocketFrame decode(ByteBuf wire) {
        EmbeddedChannel server = new EmbeddedChannel(new WebSocket13FrameDecoder(true, false, 8 << 20));
        assertThat(server.writeInbound(wire)).isTrue();
        WebSocketFrame frame = server.readInbound();
        assertThat((Object) server.readInbound()).isNull();
        server.finishAndReleaseAll();
        return frame;
    }

    @Test
    void largeFramesOfPiecesAreMaskedSoThatAServerReadsTheirBytes() {
        int[][] layouts = {{256 * 1024}, {1, 3, 7, 1000, 4099}, {5}, {65_536, 13}};
        for (int length : new int[] {4096, 4097, 4103, 65_535, 65_536, 70_001, 1 << 20}) {
            for (int[] layout : layouts) {
                byte[] payload = random(length);
                WebSocketFrame decoded = decode(encode(new BinaryWebSocketFrame(pieces(payload, layout))));
                assertThat(decoded).isInstanceOf(BinaryWebSocketFrame.class);
                assertThat(decoded.isFinalFragment()).isTrue();
                assertThat(ByteBufUtil.getBytes(decoded.content())).as("%d bytes in pieces of %s", length, layout).isEqualTo(payload);
                decoded.release();
            }
        }
    }

    @Test
    void aSliceOfAFrameIsMaskedFromItsOwnFirstByte() {
        byte[] payload = random(300_000);
        ByteBuf slice = pieces(payload, 1, 3, 7, 1000, 4099).slice(12_345, 200_003);
        WebSocketFrame decoded = decode(encode(new BinaryWebSocketFrame(slice)));
        byte[] expected = new byte[200_003];
        System.arraycopy(payload, 12_345, expected, 0, expected.length);
        assertThat(ByteBufUtil.getBytes(decoded.content())).isEqualTo(expected);
        decoded.release();
    }

    @Test
    void theWireFormatIsNettysExceptForTheMask() {
        byte[] payload = random(70_001);
        ByteBuf ours = encode(new BinaryWebSocketFrame(false, 0, pieces(payload, 999)));
        EmbeddedChannel netty = new EmbeddedChannel(new WebSocket13FrameEncoder(true));
        netty.writeOutbound(new BinaryWebSocketFrame(false, 0, Unpooled.wrappedBuffer(payload)));
        CompositeByteBuf theirs = Unpooled.compositeBuffer();
        for (ByteBuf part; (part = netty.readOutbound()) != null; ) {
            theirs.addComponent(true, part);
        }
        // FIN clear, opcode binary, masked, 64-bit length: the same 10 header bytes, then 4 of mask
        assertThat(ours.readableBytes()).isEqualTo(theirs.readableBytes()).isEqualTo(10 + 4 + payload.length);
        assertThat(ByteBufUtil.getBytes(ours, 0, 10)).isEqualTo(ByteBufUtil.getBytes(theirs, 0, 10));
        assertThat(ours.getByte(0) & 0xFF).isEqualTo(0x02);
        assertThat(ours.getByte(1) & 0x80).isEqualTo(0x80);
        netty.finishAndReleaseAll();
        ours.release();
        theirs.release();
    }

    @Test
    void textContinuationAndControlFramesStillReachTheServerIntact() {
        String text = "é".repeat(5000);
        WebSocketFrame decodedText = decode(encode(new TextWebSocketFrame(text)));
        assertThat(((TextWebSocketFrame) decodedText).text()).isEqualTo(text);
        decodedText.release();

        byte[] small = random(100);
        WebSocketFrame decodedSmall = decode(encode(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(small))));
        assertThat(ByteBufUtil.getBytes(decodedSmall.content())).isEqualTo(small);
        decodedSmall.release();

        WebSocketFrame ping = decode(encode(new PingWebSocketFrame(Unpooled.wrappedBuffer(new byte[] {1, 2, 3}))));
        assertThat(ping).isInstanceOf(PingWebSocketFrame.class);
        assertThat(ByteBufUtil.getBytes(ping.content())).containsExactly(1, 2, 3);
        ping.release();

        // a fragmented message: the first fragment large, the continuation large and final
        byte[] first = random(10_000);
        byte[] rest = random(9_999);
        List<ByteBuf> wire = new ArrayList<>();
        wire.add(encode(new BinaryWebSocketFrame(false, 0, pieces(first, 3))));
        wire.add(encode(new ContinuationWebSocketFrame(true, 0, pieces(rest, 7))));
        EmbeddedChannel server = new EmbeddedChannel(new WebSocket13FrameDecoder(true, false, 1 << 20));
        for (ByteBuf part : wire) {
            server.writeInbound(part);
        }
        WebSocketFrame a = server.readInbound();
        WebSocketFrame b = server.readInbound();
        assertThat(a.isFinalFragment()).isFalse();
        assertThat(b).isInstanceOf(ContinuationWebSocketFrame.class);
        assertThat(b.isFinalFragment()).isTrue();
        assertThat(ByteBufUtil.getBytes(a.content())).isEqualTo(first);
        assertThat(ByteBufUtil.getBytes(b.content())).isEqualTo(rest);
        a.release();
        b.release();
        server.finishAndReleaseAll();
    }
}
