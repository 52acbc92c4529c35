package io.hypha.rpc;

/** A failure of the Hypha connection or of a call, seen on this side. */
public class HyphaException extends RuntimeException {

    public HyphaException(String message) {
        super(message);
    }

    public HyphaException(String message, Throwable cause) {
        super(message, cause);
    }

    /** The server refused the connection; its own reason is the message. Reconnecting will not help. */
    public static final class Refused extends HyphaException {
        public Refused(String serverMessage) {
            super(serverMessage);
        }
    }

    /** A call got neither a reply nor a heartbeat within its timeout. */
    public static final class Timeout extends HyphaException {
        public Timeout(String message) {
            super(message);
        }
    }

    /** The connection is closed, or was lost and could not be re-established. */
    public static final class ConnectionClosed extends HyphaException {
        public ConnectionClosed(String message) {
            super(message);
        }
    }
}
