package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;

import io.vertx.core.buffer.Buffer;

class MsgpackCodecTest {

    private static Object roundTrip(Object value) {
        return MsgpackCodec.unpack(MsgpackCodec.pack(value));
    }

    @Test
    void scalarsKeepTheirDocumentedTypes() {
        assertThat(roundTrip(null)).isNull();
        assertThat(roundTrip(true)).isEqualTo(true);
        assertThat(roundTrip(7)).isEqualTo(7L);
        assertThat(roundTrip((short) -3)).isEqualTo(-3L);
        assertThat(roundTrip(Long.MIN_VALUE)).isEqualTo(Long.MIN_VALUE);
        assertThat(roundTrip(Long.MAX_VALUE)).isEqualTo(Long.MAX_VALUE);
        BigInteger maxU64 = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
        assertThat(roundTrip(maxU64)).isEqualTo(maxU64);
        assertThat(roundTrip(BigInteger.valueOf(5))).isEqualTo(5L);
        assertThat(roundTrip(1.0)).isEqualTo(1.0);
        assertThat(roundTrip(1.5f)).isEqualTo(1.5);
        assertThat((Double) roundTrip(Double.NaN)).isNaN();
        assertThat(roundTrip(Double.NEGATIVE_INFINITY)).isEqualTo(Double.NEGATIVE_INFINITY);
        assertThat(roundTrip("héllo 🌍")).isEqualTo("héllo 🌍");
        assertThat(roundTrip('x')).isEqualTo("x");
        assertThat(roundTrip(Thread.State.RUNNABLE)).isEqualTo("RUNNABLE");
        assertThat(roundTrip(Instant.parse("2026-01-02T03:04:05Z"))).isEqualTo("2026-01-02T03:04:05Z");
    }

    @Test
    void bytesStayBytesWhateverTheirJavaForm() {
        byte[] raw = {1, 2, 3};
        assertThat((byte[]) roundTrip(raw)).containsExactly(1, 2, 3);
        assertThat((byte[]) roundTrip(ByteBuffer.wrap(raw))).containsExactly(1, 2, 3);
        assertThat((byte[]) roundTrip(Buffer.buffer(raw))).containsExactly(1, 2, 3);
        assertThat((byte[]) roundTrip(new byte[0])).isEmpty();
    }

    @Test
    void containersNestAndKeepOrder() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("z", List.of(1, "a", List.of()));
        map.put("a", Map.of());
        map.put("n", null);
        Map<?, ?> back = (Map<?, ?>) roundTrip(map);
        assertThat(back.get("z")).isEqualTo(List.of(1L, "a", List.of()));
        assertThat(back.get("a")).isEqualTo(Map.of());
        assertThat(back.containsKey("n")).isTrue();
        assertThat(back.get("n")).isNull();
        assertThat(List.copyOf(back.keySet())).isEqualTo(List.of("z", "a", "n"));
        assertThat(roundTrip(new Object[] {1, "x"})).isEqualTo(List.of(1L, "x"));
    }

    @Test
    void refusesWhatPythonCouldNotRead() {
        assertThatThrownBy(() -> MsgpackCodec.pack(Map.of(1, "x"))).hasMessageContaining("map keys must be strings");
        assertThatThrownBy(() -> MsgpackCodec.pack(BigInteger.ONE.shiftLeft(64))).hasMessageContaining("out of the msgpack range");
        assertThatThrownBy(() -> MsgpackCodec.pack(new Object())).hasMessageContaining("cannot send a value of type java.lang.Object");
    }

    @Test
    void framesAreTwoConcatenatedObjectsAndTheSecondIsMergedOverTheFirst() {
        Buffer frame = MsgpackCodec.packFrame(Map.of("type", "method", "to", "a"), Map.of("args", List.of(1), "to", "b"));
        MsgpackCodec.Frame decoded = MsgpackCodec.unpackFrame(frame.getBytes());
        assertThat(decoded.main()).containsEntry("to", "a");
        assertThat(decoded.merged()).containsEntry("to", "b").containsEntry("args", List.of(1L)).containsEntry("type", "method");
        MsgpackCodec.Frame single = MsgpackCodec.unpackFrame(MsgpackCodec.packFrame(Map.of("type", "x"), Map.of()).getBytes());
        assertThat(single.extra()).isNull();
        assertThatThrownBy(() -> MsgpackCodec.unpackFrame(MsgpackCodec.pack(List.of(1)))).hasMessageContaining("does not start with a map");
    }

    @Test
    void timestampsAndOtherExtensionsDecode() throws Exception {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(2);
            p.packTimestamp(Instant.ofEpochSecond(1_700_000_000L, 5));
            p.packExtensionTypeHeader((byte) 7, 2);
            p.writePayload(new byte[] {9, 8});
            List<?> back = (List<?>) MsgpackCodec.unpack(p.toByteArray());
            assertThat(back.get(0)).isEqualTo(Instant.ofEpochSecond(1_700_000_000L, 5));
            MsgpackCodec.Extension ext = (MsgpackCodec.Extension) back.get(1);
            assertThat(ext.type()).isEqualTo((byte) 7);
            assertThat(ext.data()).containsExactly(9, 8);
        }
    }
}
