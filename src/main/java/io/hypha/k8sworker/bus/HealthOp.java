package io.hypha.k8sworker.bus;

/**
 * What every verticle's request address also answers (the hypha-bridge's {@link Addresses#HYPHA}, the
 * service-watcher's {@link Addresses#SESSIONS}, the leader verticle's {@link Addresses#LEADER}, each job
 * type's {@link Addresses#jobType(String)}): asking the address the component serves on shows that
 * this very consumer runs and its event loop answers.
 */
public enum HealthOp implements Operation {
    /** {@code {}} → {@link Health}. */
    CHECK("health");

    private final String wireName;

    HealthOp(String wireName) {
        this.wireName = wireName;
    }

    @Override
    public String wireName() {
        return wireName;
    }
}
