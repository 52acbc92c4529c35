package io.hypha.k8sworker.bus;

/** Every event-bus address of the worker, in one place. */
public final class Addresses {

    private Addresses() {
    }

    /** Request/reply, one per job type: launch a Job for a session, or validate its manifest ({@link Headers#OPERATION}). */
    public static String jobType(String jobType) {
        return "jobs.type." + jobType;
    }

    /** Request/reply to the service-watcher: session queries and commands ({@link Headers#OPERATION}). */
    public static final String SESSIONS = "sessions.requests";

    /** Publish: progress of one session while it starts ({@code {type, message}}). */
    public static String sessionProgress(String sessionId) {
        return "sessions.progress." + sessionId;
    }

    /** Request/reply to the hypha-bridge: Hypha lookups for the other verticles ({@link Headers#OPERATION}). */
    public static final String HYPHA = "hypha.requests";

    /** Request/reply to the leader verticle: whether this replica leads ({@link LeaderOp}). */
    public static final String LEADER = "leader.requests";

    /** Publish: this replica's leadership changed ({@link Leadership}). */
    public static final String LEADER_STATUS = "leader.status";

    /** Headers that go with requests. */
    public static final class Headers {
        public static final String OPERATION = "op";

        private Headers() {
        }
    }
}
