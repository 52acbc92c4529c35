package io.hypha.k8sworker.launcher;

import java.util.Map;

import io.hypha.k8sworker.bus.LaunchRequest;

/**
 * One kind of session ({@code k8s-job}, {@code claude-agent}, ...): how its manifest is read and what
 * its pod runs. Adding a type means adding an implementation and listing it in {@link JobTypes}.
 */
public interface JobType {

    String name();

    /** Validates the manifest and fills its defaults; the error names the field. */
    default CompiledManifest compile(Map<String, Object> manifest) {
        return compile(manifest, false);
    }

    /**
     * As {@link #compile(Map)}; with {@code fromAppController} (Hypha's whole ApplicationManifest),
     * fields the type does not use are ignored instead of refused.
     */
    CompiledManifest compile(Map<String, Object> manifest, boolean fromAppController);

    /** The pod of a session, from a manifest this type compiled. */
    JobPlan plan(CompiledManifest compiled, LaunchRequest request);
}
