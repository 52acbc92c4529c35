package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * Bytes a hostile peer can put in a frame: every claimed length is checked against what is left
 * before allocating, and nesting and value counts are bounded, so decoding fails cleanly with
 * {@link IllegalArgumentException} instead of exhausting the heap or the stack.
 */
class MsgpackCodecHostileInputTest {

    /** A valid first segment followed by the hostile second one, as the server forwards it. */
    private static byte[] frameWith(byte[] extra) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(MsgpackCodec.pack(Map.of("type", "method", "method", "services.x.y")));
        out.writeBytes(extra);
        return out.toByteArray();
    }

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    @Test
    void anArrayHeaderClaimingTwoBillionItemsInFiveBytesIsRefused() {
        byte[] frame = frameWith(bytes(0xdd, 0x7f, 0xff, 0xff, 0xff));
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frame))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("array size of 2147483647");
    }

    @Test
    void mapStringBinaryAndExtensionLengthsBeyondTheInputAreRefused() {
        // map32 with 2^31-1 and 2^32-1 entries, str32 and bin32 of 2^31-1 bytes, ext32 of 2^31-1 bytes
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frameWith(bytes(0xdf, 0x7f, 0xff, 0xff, 0xff))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("map size of 2147483647");
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frameWith(bytes(0xdf, 0xff, 0xff, 0xff, 0xff))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("malformed msgpack frame");
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frameWith(bytes(0xdb, 0x7f, 0xff, 0xff, 0xff, 0x41))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("string length");
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frameWith(bytes(0xc6, 0x7f, 0xff, 0xff, 0xff))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("binary length");
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frameWith(bytes(0xc9, 0x7f, 0xff, 0xff, 0xff, 0x05))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("extension length");
        // a map whose entries could not all fit: 3 entries need at least 6 bytes
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frameWith(bytes(0x83, 0xc0, 0xc0, 0xc0))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("map size of 3");
    }

    @Test
    void aHundredThousandNestedArraysAreRefusedWithoutOverflowingTheStack() {
        byte[] nested = new byte[100_001];
        Arrays.fill(nested, (byte) 0x91);
        nested[nested.length - 1] = (byte) 0xc0;
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frameWith(nested)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("nested deeper than " + MsgpackCodec.MAX_DEPTH);
        assertThatThrownBy(() -> MsgpackCodec.unpack(nested)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void nestingUpToTheLimitStillDecodes() {
        Object value = "leaf";
        for (int i = 0; i < MsgpackCodec.MAX_DEPTH; i++) {
            value = List.of(value);
        }
        Object back = MsgpackCodec.unpack(MsgpackCodec.pack(value));
        for (int i = 0; i < MsgpackCodec.MAX_DEPTH; i++) {
            back = ((List<?>) back).get(0);
        }
        assertThat(back).isEqualTo("leaf");
    }

    @Test
    void aFrameOfMillionsOfEmptyMapsIsRefusedByTheValueBudget() {
        // 1 byte each on the wire, some 80 bytes each on the heap
        int count = 2_000_000;
        byte[] extra = new byte[5 + count];
        extra[0] = (byte) 0xdd;
        extra[1] = (byte) (count >>> 24);
        extra[2] = (byte) (count >>> 16);
        extra[3] = (byte) (count >>> 8);
        extra[4] = (byte) count;
        Arrays.fill(extra, 5, extra.length, (byte) 0x80);
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frameWith(extra)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("more than " + MsgpackCodec.MAX_VALUES + " values");
    }

    @Test
    void aFrameLongerThanTheLimitIsRefusedBeforeDecoding() {
        byte[] frame = frameWith(MsgpackCodec.pack(Map.of("args", List.of(new byte[2000]))));
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(frame, 1000))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("over the limit of 1000");
        assertThat(MsgpackCodec.unpackFrame(frame, frame.length).extra()).containsKey("args");
    }

    @Test
    void truncatedInputFailsCleanly() {
        byte[] whole = MsgpackCodec.pack(Map.of("a", List.of("bcd", 1, 2.5)));
        for (int cut = 1; cut < whole.length; cut++) {
            byte[] part = Arrays.copyOf(whole, cut);
            assertThatThrownBy(() -> MsgpackCodec.unpack(part)).isInstanceOf(IllegalArgumentException.class);
        }
    }
}
