package io.hypha.k8sworker.bus;

/** What the hypha-bridge answers at {@link Addresses#HYPHA} for the other verticles. */
public enum HyphaOp implements Operation {
    /** {@link ServiceWait} → {@code {id}}, the full id of the registered service. */
    AWAIT_SERVICE("await-service");

    private final String wireName;

    HyphaOp(String wireName) {
        this.wireName = wireName;
    }

    @Override
    public String wireName() {
        return wireName;
    }
}
