package io.hypha.k8sworker.bus;

/** What a job-type handler answers at {@link Addresses#jobType(String)}. */
public enum JobTypeOp implements Operation {
    /** {@link CompileRequest} → the manifest as the job type reads it, defaults filled in. */
    COMPILE("compile"),
    /** {@link LaunchRequest} → {@link Launched}. */
    LAUNCH("launch");

    private final String wireName;

    JobTypeOp(String wireName) {
        this.wireName = wireName;
    }

    @Override
    public String wireName() {
        return wireName;
    }
}
