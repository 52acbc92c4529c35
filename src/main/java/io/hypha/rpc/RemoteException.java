package io.hypha.rpc;

/** An error raised by the remote side of a call, carrying its message and its stack trace text. */
public final class RemoteException extends HyphaException {

    private final String remoteMessage;
    private final String remoteTrace;

    public RemoteException(String remoteMessage, String remoteTrace) {
        super(remoteMessage == null ? "remote error" : remoteMessage);
        this.remoteMessage = remoteMessage;
        this.remoteTrace = remoteTrace == null ? "" : remoteTrace;
    }

    /** The {@code _rvalue} of the error as the remote side wrote it. */
    public String remoteMessage() {
        return remoteMessage;
    }

    /** The remote stack trace text ({@code _rtrace}), possibly empty. */
    public String remoteTrace() {
        return remoteTrace;
    }
}
