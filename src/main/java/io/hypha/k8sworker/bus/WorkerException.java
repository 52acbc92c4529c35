package io.hypha.k8sworker.bus;

import java.util.List;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;

/**
 * A failure meant for the caller: its message is safe to show, and its code says what kind it is.
 * Messages never contain the words the Python client takes for a stale reference ("Peer",
 * "Method not found", "Session not found"...), which would make it retry.
 */
public final class WorkerException extends RuntimeException {

    /** What hypha-rpc's _STALE_SERVICE_ERROR_PATTERNS match (case-sensitively) to retry a call. */
    private static final List<String> RETRY_WORDS = List.of("Peer", "Method not found", "Session not found",
            "Method expired or not found", "Connection was closed", "Connection is closed");

    private static final Logger LOG = LoggerFactory.getLogger(WorkerException.class);

    private final ErrorCode code;

    public WorkerException(ErrorCode code, String message) {
        // no stack trace: it is an answer for the caller, not a bug report
        super(bounded(safeText(message)), null, false, false);
        this.code = code;
    }

    /** The longest message a caller gets: enough for any field path and reason. */
    static final int MAX_MESSAGE = 1000;

    private static String bounded(String message) {
        return message == null || message.length() <= MAX_MESSAGE ? message : message.substring(0, MAX_MESSAGE) + "...";
    }

    /**
     * The text with the client's retry words lower-cased at their first letter: messages quote the
     * caller's input, which may contain them, and a caller must never be made to retry a refusal.
     */
    public static String safeText(String text) {
        if (text == null) {
            return null;
        }
        String out = text;
        for (String word : RETRY_WORDS) {
            out = out.replace(word, Character.toLowerCase(word.charAt(0)) + word.substring(1));
        }
        return out;
    }

    /** Caller text quoted in an error: at most 80 characters, control characters escaped. */
    public static String shown(String s) {
        String cut = s.length() <= 80 ? s : s.substring(0, 80) + "...";
        StringBuilder out = new StringBuilder(cut.length());
        cut.codePoints().forEach(c -> {
            if (Character.isISOControl(c)) {
                out.append(String.format("\\u%04x", c));
            } else {
                out.appendCodePoint(c);
            }
        });
        return out.toString();
    }

    public ErrorCode code() {
        return code;
    }

    public static WorkerException invalid(String message) {
        return new WorkerException(ErrorCode.INVALID_REQUEST, message);
    }

    /** Answers a request with this failure, or with an internal error that hides details. */
    public static void fail(Message<?> message, Throwable error) {
        if (error instanceof WorkerException w) {
            message.fail(w.code.code(), w.getMessage());
        } else if (error instanceof ReplyException r && r.failureType() == ReplyFailure.RECIPIENT_FAILURE) {
            message.fail(r.failureCode(), r.getMessage());
        } else {
            // a bug, not an answer: its class, message and trace go to the log, not to the caller
            LOG.error("internal error answering a request to {}", message.address(), error);
            message.fail(ErrorCode.INTERNAL.code(), "internal error (the worker's log has the details)");
        }
    }

    /** The failure of an event-bus request, as the caller should see it. */
    public static WorkerException from(Throwable error) {
        if (error instanceof WorkerException w) {
            return w;
        }
        if (error instanceof ReplyException r) {
            return switch (r.failureType()) {
                case NO_HANDLERS -> new WorkerException(ErrorCode.UNAVAILABLE, "the handler for this request is not deployed");
                case TIMEOUT -> new WorkerException(ErrorCode.TIMEOUT, "the worker did not answer in time");
                default -> new WorkerException(ErrorCode.of(r.failureCode()), r.getMessage());
            };
        }
        return new WorkerException(ErrorCode.INTERNAL, "internal error: " + error);
    }
}
