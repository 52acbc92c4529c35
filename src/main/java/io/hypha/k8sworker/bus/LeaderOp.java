package io.hypha.k8sworker.bus;

/** What the leader verticle answers at {@link Addresses#LEADER}. */
public enum LeaderOp implements Operation {
    /** {} → this replica's {@link Leadership} now. */
    STATUS("status");

    private final String wireName;

    LeaderOp(String wireName) {
        this.wireName = wireName;
    }

    @Override
    public String wireName() {
        return wireName;
    }
}
