package io.hypha.k8sworker.bus;

/** Failure codes on the event bus, HTTP-like, mapped to messages once at the Hypha edge. */
public enum ErrorCode {
    INVALID_REQUEST(400),
    FORBIDDEN(403),
    UNKNOWN_SESSION(404),
    CONFLICT(409),
    START_FAILED(422),
    LIMIT_REACHED(429),
    INTERNAL(500),
    UNAVAILABLE(503),
    TIMEOUT(504);

    private final int code;

    ErrorCode(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    public static ErrorCode of(int code) {
        for (ErrorCode c : values()) {
            if (c.code == code) {
                return c;
            }
        }
        return INTERNAL;
    }
}
