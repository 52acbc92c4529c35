package io.hypha.k8sworker.bus;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;


/**
 * What a session carries ({@code policy.maxManifestBytes}): every Job and pod of a session holds its
 * manifest, so the limit bounds what the worker reads back when it lists them after a restart. The
 * size is the UTF-8 length of every key and string, 8 for any other value, over the fields a job
 * type reads (the app metadata it ignores is not stored) and the caller's strings that go into the
 * Job or its Secret. Checked before anything else is done with the manifest.
 */
public final class ManifestSize {

    /** What a number, a boolean or any other non-string value counts for. */
    static final int SCALAR = 8;

    private ManifestSize() {
    }

    /**
     * Refuses a manifest (named {@code field}, e.g. {@code config.manifest}) that, with {@code extras}
     * (field name to value, e.g. {@code config.token}), is larger than {@code maxBytes}; the error
     * names the largest field and the setting.
     */
    public static void check(String field, Map<?, ?> manifest, Map<String, Object> extras, int maxBytes) {
        Map<String, Long> parts = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : manifest.entrySet()) {
            String key = String.valueOf(e.getKey());
            if (AppMetadata.FIELDS.contains(key) || key.startsWith("_")) {
                continue;
            }
            parts.put(field + "." + key, utf8Length(key) + of(e.getValue(), maxBytes + 1L));
        }
        extras.forEach((name, value) -> parts.put(name, of(value, maxBytes + 1L)));
        long total = parts.values().stream().mapToLong(Long::longValue).sum();
        if (total > maxBytes) {
            Map.Entry<String, Long> largest = parts.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow();
            // counting stops past the maximum: a part that reached it is larger still
            boolean cut = largest.getValue() > maxBytes;
            throw new WorkerException(ErrorCode.FORBIDDEN, largest.getKey() + ": the session's manifest is "
                    + (cut ? "more than " + maxBytes : String.valueOf(total)) + " bytes ("
                    + (cut ? "more than " + maxBytes : String.valueOf(largest.getValue())) + " in " + largest.getKey()
                    + "), more than a session may carry (policy.maxManifestBytes: " + maxBytes + ")");
        }
    }

    /**
     * The size of a value, counted without recursion (nesting depth costs nothing) and no further than
     * {@code stopAbove}, so that a huge value is not walked to its end.
     */
    static long of(Object value, long stopAbove) {
        long size = 0;
        Deque<Object> todo = new ArrayDeque<>();
        todo.push(value == null ? "" : value);
        while (!todo.isEmpty() && size <= stopAbove) {
            Object v = todo.pop();
            if (v instanceof CharSequence s) {
                size += utf8Length(s);
            } else if (v instanceof Map<?, ?> m) {
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    size += utf8Length(String.valueOf(e.getKey()));
                    if (e.getValue() != null) {
                        todo.push(e.getValue());
                    }
                }
            } else if (v instanceof List<?> l) {
                for (Object item : l) {
                    if (item != null) {
                        todo.push(item);
                    }
                }
            } else if (v instanceof byte[] b) {
                size += b.length;
            } else {
                size += SCALAR;
            }
        }
        return Math.min(size, stopAbove);
    }

    static long utf8Length(CharSequence s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n++;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c)) {
                // with its low surrogate: one 4-byte code point
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }
}
