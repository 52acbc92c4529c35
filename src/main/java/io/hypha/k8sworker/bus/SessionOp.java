package io.hypha.k8sworker.bus;

/** What the service-watcher answers at {@link Addresses#SESSIONS}. */
public enum SessionOp implements Operation {
    /** {@link SessionRequest} → the visible sessions' infos. */
    LIST("list"),
    /** {@link SessionRequest} → one session's info. */
    GET("get"),
    /** {@link StartWatch} → done when the session runs (and its service registered, if asked). */
    AWAIT("await"),
    /** {@link SessionRequest} → the session is stopping or gone. */
    STOP("stop"),
    /** {@link SessionRequest} → every session of this worker stopped. */
    STOP_ALL("stop-all"),
    /** {@link SessionRequest} with a log type and paging → the logs. */
    LOGS("logs"),
    /** {@link SessionRequest} → a follow id for {@link #FOLLOW_NEXT}. */
    FOLLOW_LOGS("follow-logs"),
    /** {@code {follow, max}} → the next lines of a followed log. */
    FOLLOW_NEXT("follow-next"),
    /** {@code {follow}} → the follow is closed. */
    FOLLOW_CLOSE("follow-close"),
    /** {@link SessionRequest} with {@code command}, {@code timeoutSeconds}, {@code maxBytes} → the command's result. */
    EXEC("exec"),
    /** {@code {sessionId, workspace, daemonApp}} → the daemon app's older sessions stopped. */
    REPLACE_DAEMON("replace-daemon"),
    /** {@link Admission} → a place held for a session about to be launched, or a refusal. */
    ADMIT("admit"),
    /** {@link Admission} → the place given back (the launch failed). */
    RELEASE("release");

    private final String wireName;

    SessionOp(String wireName) {
        this.wireName = wireName;
    }

    @Override
    public String wireName() {
        return wireName;
    }
}
