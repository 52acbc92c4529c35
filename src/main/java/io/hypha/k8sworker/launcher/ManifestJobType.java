package io.hypha.k8sworker.launcher;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/** The shared shape of a job type: its name, its settings, and the read-then-refuse-the-rest of compile. */
abstract class ManifestJobType implements JobType {

    protected final WorkerConfig config;
    /** {@code jobTypes.<name>} from the configuration. */
    protected final JsonObject settings;
    protected final JobPolicy policy;
    private final String name;

    ManifestJobType(String name, WorkerConfig config) {
        this.name = name;
        this.config = config;
        this.settings = config.jobType(name);
        this.policy = new JobPolicy(config.policy());
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final Map<String, Object> compile(Map<String, Object> manifest, boolean fromAppController) {
        ManifestReader m = new ManifestReader(manifest, fromAppController);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("type", m.oneOf("type", name, List.of(name)));
        readFields(m, out);
        m.rejectUnknown(name);
        return out;
    }

    /** A list setting of this type ({@code jobTypes.<name>.<key>}), empty if unset; WorkerConfig checked its items are strings. */
    protected final List<String> settingsList(String key) {
        JsonArray list = settings.getJsonArray(key, new JsonArray());
        return list.stream().map(String::valueOf).toList();
    }

    /**
     * manifest.visibility of an agent that registers itself in the caller's workspace: the type's
     * default if unset, and no wider than policy.maxAgentVisibility (a public agent driven by the
     * operator's credentials would be anyone's).
     */
    protected final String agentVisibility(ManifestReader m) {
        String visibility = m.oneOf("visibility", settings.getString("visibility", "protected"), WorkerConfig.Callers.VISIBILITIES);
        if (!config.callers().agentVisibilityAllowed(visibility)) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.visibility: " + visibility + " is wider than agents may register with "
                    + "here (policy.maxAgentVisibility: " + config.callers().maxAgentVisibility() + ")");
        }
        return visibility;
    }

    /** Reads this type's fields (and the common ones) into the compiled manifest. */
    protected abstract void readFields(ManifestReader m, Map<String, Object> out);
}
