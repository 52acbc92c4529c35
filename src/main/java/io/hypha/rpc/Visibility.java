package io.hypha.rpc;

import java.util.Locale;

/** Who may use a service: its own workspace (protected), anyone and listed (public), or anyone who knows its id (unlisted). */
public enum Visibility {
    PROTECTED, PUBLIC, UNLISTED;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Visibility fromWire(Object value) {
        if (value == null) {
            return PROTECTED;
        }
        return switch (value.toString()) {
            case "public" -> PUBLIC;
            case "unlisted" -> UNLISTED;
            case "protected" -> PROTECTED;
            default -> throw new IllegalArgumentException("visibility must be protected, public or unlisted, got " + value);
        };
    }
}
