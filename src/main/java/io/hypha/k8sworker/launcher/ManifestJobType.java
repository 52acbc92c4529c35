package io.hypha.k8sworker.launcher;

import java.util.List;
import java.util.Map;

import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.JobTypeSettings;
import io.hypha.k8sworker.config.WorkerConfig;

/** The shared shape of a job type: its name, its settings, and the read-then-refuse-the-rest of compile. */
abstract class ManifestJobType<F extends CompiledManifest.TypeFields> implements JobType {

    protected final WorkerConfig config;
    /** {@code jobTypes.<name>} from the configuration. */
    protected final JobTypeSettings settings;
    protected final JobPolicy policy;
    private final String name;
    private final Class<F> fieldsType;

    ManifestJobType(String name, Class<F> fieldsType, WorkerConfig config) {
        this.name = name;
        this.fieldsType = fieldsType;
        this.config = config;
        this.settings = config.jobType(name);
        this.policy = new JobPolicy(config.policy());
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final CompiledManifest compile(Map<String, Object> manifest, boolean fromAppController) {
        ManifestReader m = new ManifestReader(manifest, fromAppController);
        String type = m.oneOf("type", name, List.of(name));
        F own = readOwn(m);
        CompiledManifest.SessionFields session = readSession(m, own);
        m.rejectUnknown(name);
        return new CompiledManifest(type, own, session);
    }

    @Override
    public final JobPlan plan(CompiledManifest compiled, LaunchRequest request) {
        if (!name.equals(compiled.type()) || !fieldsType.isInstance(compiled.own())) {
            throw new IllegalArgumentException("a manifest compiled by " + compiled.type() + " given to " + name);
        }
        return plan(fieldsType.cast(compiled.own()), compiled.session(), request);
    }

    /** The pull policy of the type's image: its own setting, else kubernetes.imagePullPolicy. */
    protected final String imagePullPolicy() {
        return settings.imagePullPolicy() != null ? settings.imagePullPolicy() : config.kubernetes().imagePullPolicy();
    }

    /**
     * manifest.visibility of an agent that registers itself in the caller's workspace: the type's
     * default if unset, and no wider than policy.maxAgentVisibility (a public agent driven by the
     * operator's credentials would be anyone's).
     */
    protected final String agentVisibility(ManifestReader m) {
        String visibility = m.oneOf("visibility", settings.visibility(), WorkerConfig.Callers.VISIBILITIES);
        if (!config.callers().agentVisibilityAllowed(visibility)) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "manifest.visibility: " + visibility + " is wider than agents may register with "
                    + "here (policy.maxAgentVisibility: " + config.callers().maxAgentVisibility() + ")");
        }
        return visibility;
    }

    /** Reads the fields of this type alone. */
    protected abstract F readOwn(ManifestReader m);

    /** Reads the fields every type shares (with this type's defaults), then checks them against the type's own. */
    protected abstract CompiledManifest.SessionFields readSession(ManifestReader m, F own);

    /** The pod of a session. */
    protected abstract JobPlan plan(F own, CompiledManifest.SessionFields session, LaunchRequest request);
}
