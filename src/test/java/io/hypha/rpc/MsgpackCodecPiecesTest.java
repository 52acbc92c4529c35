package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;

import io.vertx.core.buffer.Buffer;

/**
 * Frames packed into pieces and read across pieces: the bytes are exactly what a plain packer
 * writes, a frame split anywhere (as chunks arrive) reads back whole, and a slice of a packed
 * frame is sent as the bytes it views.
 */
class MsgpackCodecPiecesTest {

    static Map<String, Object> bigFrameMain() {
        Map<String, Object> main = new LinkedHashMap<>();
        main.put("type", "method");
        main.put("to", "ws/x");
        main.put("method", "services.echo.echo");
        return main;
    }

    static Map<String, Object> bigFrameExtra(byte[] payload) {
        Map<String, Object> extra = new LinkedHashMap<>();
        extra.put("args", List.of(payload, "text ünï", 42L, List.of(new byte[100], new byte[20_000])));
        extra.put("with_kwargs", false);
        return extra;
    }

    @Test
    void aFramePackedInPiecesHasExactlyThePlainPackersBytes() throws Exception {
        byte[] payload = new byte[1_048_576 + 17];
        new Random(7).nextBytes(payload);
        Buffer frame = MsgpackCodec.packFrame(bigFrameMain(), bigFrameExtra(payload));
        byte[] plain;
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.writePayload(MsgpackCodec.pack(bigFrameMain()));
            p.writePayload(MsgpackCodec.pack(bigFrameExtra(payload)));
            plain = p.toByteArray();
        }
        assertThat(frame.getBytes()).isEqualTo(plain);
        // changing the caller's array afterwards does not change the packed frame
        payload[0] ^= 1;
        assertThat(frame.getBytes()).isEqualTo(plain);
    }

    @Test
    void aFrameSplitAnywhereReadsBackWholeAndSlicesSendTheBytesTheyView() {
        byte[] payload = new byte[700_001];
        new Random(11).nextBytes(payload);
        Buffer frame = MsgpackCodec.packFrame(bigFrameMain(), bigFrameExtra(payload));
        byte[] bytes = frame.getBytes();
        Random cuts = new Random(3);
        for (int round = 0; round < 20; round++) {
            List<byte[]> chunks = new ArrayList<>();
            int from = 0;
            while (from < bytes.length) {
                int size = round == 0 ? 1 : 1 + cuts.nextInt(300_000);
                int to = Math.min(bytes.length, from + size);
                byte[] c = new byte[to - from];
                System.arraycopy(bytes, from, c, 0, c.length);
                chunks.add(c);
                from = to;
                if (round == 0 && chunks.size() > 50) {
                    // a few one-byte chunks, then the rest in one
                    byte[] rest = new byte[bytes.length - from];
                    System.arraycopy(bytes, from, rest, 0, rest.length);
                    chunks.add(rest);
                    from = bytes.length;
                }
            }
            MsgpackCodec.Frame read = MsgpackCodec.unpackFrame(chunks);
            List<?> args = (List<?>) read.extra().get("args");
            assertThat((byte[]) args.get(0)).isEqualTo(payload);
            assertThat(args.get(1)).isEqualTo("text ünï");
            assertThat(read.main()).isEqualTo(bigFrameMain());
        }
        assertThat(MsgpackCodec.unpackFrame(frame, Integer.MAX_VALUE).extra().get("with_kwargs")).isEqualTo(false);

        // a chunk of the frame, packed as a binary argument, carries exactly those bytes
        MsgpackCodec.FrameSlice slice = MsgpackCodec.slice(frame, 262_144, 262_144);
        Buffer chunkCall = MsgpackCodec.packFrame(Map.of("type", "method"), Map.of("args", List.of("key", 1L, slice)));
        List<?> chunkArgs = (List<?>) MsgpackCodec.unpackFrame(chunkCall.getBytes()).extra().get("args");
        byte[] expected = new byte[262_144];
        System.arraycopy(bytes, 262_144, expected, 0, expected.length);
        assertThat((byte[]) chunkArgs.get(2)).isEqualTo(expected);
    }
}
