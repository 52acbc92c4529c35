package io.hypha.k8sworker.bus;

/** What the ports publisher (in the hypha-bridge) answers at {@link Addresses#PORTS}. */
public enum PortsOp implements Operation {
    /** {@link PortPublication} of a running session → {@code {appsUrl}}; its ports are registered once they answer. */
    PUBLISH("publish"),
    /** {@link PortPublication} (only its session id counts) → the session's port services unregistered. */
    WITHDRAW("withdraw");

    private final String wireName;

    PortsOp(String wireName) {
        this.wireName = wireName;
    }

    @Override
    public String wireName() {
        return wireName;
    }
}
