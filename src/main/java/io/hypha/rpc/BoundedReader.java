package io.hypha.rpc;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.msgpack.core.ExtensionTypeHeader;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessageUnpacker;

/**
 * Reads the values of one message within its budget: nesting up to {@link MsgpackCodec#MAX_DEPTH},
 * at most {@link MsgpackCodec#MAX_VALUES} values, and no header that claims more than the bytes
 * left, so that a hostile frame is refused before anything is allocated for it.
 */
final class BoundedReader {

    private static final BigInteger LONG_MAX = BigInteger.valueOf(Long.MAX_VALUE);

    private final MessageUnpacker u;
    private final long inputLength;
    private int valuesLeft = MsgpackCodec.MAX_VALUES;

    BoundedReader(MessageUnpacker unpacker, long inputLength) {
        this.u = unpacker;
        this.inputLength = inputLength;
    }

    /** The next value. */
    Object read() throws IOException {
        return read(0);
    }

    /** A header's count or length, refused when the bytes left could not hold it. */
    private int check(long count, int minBytesEach, String what) throws IOException {
        long remaining = inputLength - u.getTotalReadBytes();
        if (count < 0 || count * minBytesEach > remaining) {
            throw new IOException(what + " of " + count + " claims more than the " + remaining + " bytes left");
        }
        return (int) count;
    }

    private void spend(long values) throws IOException {
        valuesLeft -= (int) Math.min(values, Integer.MAX_VALUE);
        if (valuesLeft < 0) {
            throw new IOException("more than " + MsgpackCodec.MAX_VALUES + " values in one message");
        }
    }

    private Object read(int depth) throws IOException {
        if (depth > MsgpackCodec.MAX_DEPTH) {
            throw new IOException("nested deeper than " + MsgpackCodec.MAX_DEPTH + " levels");
        }
        spend(1);
        MessageFormat format = u.getNextFormat();
        switch (format.getValueType()) {
            case NIL:
                u.unpackNil();
                return null;
            case BOOLEAN:
                return u.unpackBoolean();
            case INTEGER:
                if (format == MessageFormat.UINT64) {
                    BigInteger big = u.unpackBigInteger();
                    return big.compareTo(LONG_MAX) > 0 ? big : (Object) big.longValue();
                }
                return u.unpackLong();
            case FLOAT:
                return u.unpackDouble();
            case STRING: {
                int len = check(Integer.toUnsignedLong(u.unpackRawStringHeader()), 1, "string length");
                return new String(u.readPayload(len), StandardCharsets.UTF_8);
            }
            case BINARY: {
                int len = check(Integer.toUnsignedLong(u.unpackBinaryHeader()), 1, "binary length");
                return u.readPayload(len);
            }
            case ARRAY: {
                int n = check(Integer.toUnsignedLong(u.unpackArrayHeader()), 1, "array size");
                List<Object> list = new ArrayList<>(Math.min(n, 1024));
                for (int i = 0; i < n; i++) {
                    list.add(read(depth + 1));
                }
                return list;
            }
            case MAP: {
                int n = check(Integer.toUnsignedLong(u.unpackMapHeader()), 2, "map size");
                Map<String, Object> map = new LinkedHashMap<>(Math.max(4, Math.min(n, 1024) * 4 / 3 + 1));
                for (int i = 0; i < n; i++) {
                    Object key = read(depth + 1);
                    map.put(String.valueOf(key), read(depth + 1));
                }
                return map;
            }
            case EXTENSION: {
                ExtensionTypeHeader header = u.unpackExtensionTypeHeader();
                int len = check(Integer.toUnsignedLong(header.getLength()), 1, "extension length");
                if (header.isTimestampType()) {
                    return u.unpackTimestamp(header);
                }
                return new MsgpackCodec.Extension(header.getType(), u.readPayload(len));
            }
            default:
                throw new IOException("unsupported msgpack format " + format);
        }
    }
}
