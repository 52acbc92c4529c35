package io.hypha.k8sworker.config;

import static io.hypha.k8sworker.config.Settings.bool;
import static io.hypha.k8sworker.config.Settings.list;
import static io.hypha.k8sworker.config.Settings.num;
import static io.hypha.k8sworker.config.Settings.quantities;
import static io.hypha.k8sworker.config.Settings.str;
import static io.hypha.k8sworker.config.Settings.stringMap;
import static io.hypha.k8sworker.config.Settings.sub;
import static io.hypha.k8sworker.config.Settings.tolerations;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.fabric8.kubernetes.api.model.Quantity;
import io.vertx.core.json.JsonObject;

/**
 * The worker's settings: {@code conf/config.yaml} (or the copy inside the jar), overridden by
 * environment variables (see {@link ConfigFile}). Loaded once at start-up, before any event loop runs.
 */
public record WorkerConfig(Hypha hypha, Kubernetes kubernetes, Map<String, JobTypeSettings> jobTypes, Policy policy,
                           Verticles verticles, Health health, Logs logs, Callers callers, Replicas replicas, Ports ports) {

    public record Hypha(String serverUrl, String workspace, @SecretSetting String token, String clientId, String serviceId,
                        String visibility, String publicServerUrl, int methodTimeoutSeconds, int sendRatePerSecond,
                        int sendBurst) {
        /** What launched programs use to reach Hypha. */
        public String serverUrlForJobs() {
            return publicServerUrl.isBlank() ? serverUrl : publicServerUrl;
        }
    }

    /**
     * jobNodeSelector and jobTolerations place every Job the operator's way: they are added to what a
     * caller may ask for, and a caller's node selector cannot change one of their keys.
     */
    public record Kubernetes(String namespace, int defaultTimeout, int maxTimeout, String imagePullPolicy,
                             int ttlSecondsAfterFinished, int startTimeoutSeconds, int unschedulableGraceSeconds,
                             boolean keepFailedJobs, int workerPoolSize, int suspendedGraceSeconds,
                             Map<String, String> jobNodeSelector, List<Map<String, Object>> jobTolerations) {
    }

    /**
     * What callers may ask for. Quantities are Kubernetes quantities; a maximum of 0 sessions means no
     * limit. See conf/config.yaml for each setting.
     */
    public record Policy(List<String> allowedImages, Map<String, String> defaultRequests, Map<String, String> defaultLimits,
                         String maxCpu, String maxMemory, int maxGpus, int maxSessionsPerWorkspace, int maxSessionsTotal,
                         boolean allowNodeSelector, boolean allowTolerations, List<String> allowedServiceAccounts,
                         List<String> allowedSecretNames, int maxManifestBytes, List<String> allowedVolumeClaims,
                         boolean allowExecute, int maxExecuteOutputBytes) {
    }

    /**
     * Bounds of get_logs: how much of each pod's log is read (its last lines, at most so many bytes),
     * how often one caller may ask, and the threads (with a bounded queue) that do the reading apart
     * from launches. See conf/config.yaml.
     */
    public record Logs(int tailLines, int limitBytes, double ratePerSecond, int burst, int threads, int queue) {
    }

    public record Verticles(int hyphaBridge, int jobLauncher, int serviceWatcher) {
    }

    /**
     * The policy's rules on who may call (settings under {@code policy} too, see conf/config.yaml):
     * anonymous starts, the per-user session limit, who may start the job types that run with the
     * operator's secrets, and the widest visibility those agents may register with.
     */
    public record Callers(boolean allowAnonymous, int maxSessionsPerUser, boolean operatorSecretOwnWorkspace,
                          List<String> operatorSecretWorkspaces, List<String> operatorSecretUsers, String maxAgentVisibility) {

        /** Hypha's visibilities from the narrowest to the widest: unlisted services are callable from anywhere, just not listed. */
        public static final List<String> VISIBILITIES = List.of("protected", "unlisted", "public");

        /** Whether an agent may register with this visibility under policy.maxAgentVisibility. */
        public boolean agentVisibilityAllowed(String visibility) {
            return VISIBILITIES.indexOf(visibility) <= VISIBILITIES.indexOf(maxAgentVisibility);
        }
    }

    public record Health(int port, String host) {
    }

    /**
     * Several replicas of one worker: with leader election on, the replicas hold a Lease, the leader
     * registers {@code hypha.serviceId} and runs the cluster-wide chores; every replica registers
     * {@link #replicaServiceId} for callers that pick one by load. Off, the one process is the leader.
     */
    public record Replicas(boolean leaderElection, String leaseName, int leaseDurationSeconds, int renewDeadlineSeconds,
                           int retryPeriodSeconds, String replicaServiceId) {
    }

    /**
     * Sessions' web ports (manifest.ports), published as Hypha ASGI apps: how many one session may
     * publish, the widest visibility they may have, how long a port may take to answer once its pod
     * runs, the proxy's timeouts towards the pod, and the Hypha URL browsers use. See conf/config.yaml.
     */
    public record Ports(int maxPerSession, String maxVisibility, int readySeconds, int connectTimeoutSeconds, int readTimeoutSeconds,
                        String baseUrl) {

        /** Whether a port may be published with this visibility under ports.maxVisibility. */
        public boolean visibilityAllowed(String visibility) {
            return Callers.VISIBILITIES.indexOf(visibility) <= Callers.VISIBILITIES.indexOf(maxVisibility);
        }
    }

    /** Loads the file (null: {@code conf/config.yaml} if present, else the defaults inside the jar) and applies the environment. */
    public static WorkerConfig load(Path file, Map<String, String> env) {
        return fromJson(ConfigFile.read(file, env));
    }

    static WorkerConfig fromJson(JsonObject t) {
        JsonObject h = t.getJsonObject("hypha", new JsonObject());
        JsonObject k = t.getJsonObject("kubernetes", new JsonObject());
        JsonObject v = t.getJsonObject("verticles", new JsonObject());
        JsonObject hl = t.getJsonObject("health", new JsonObject());
        JsonObject p = t.getJsonObject("policy", new JsonObject());
        JsonObject pr = p.getJsonObject("resources", new JsonObject());
        JsonObject ps = p.getJsonObject("operatorSecretTypes", new JsonObject());
        WorkerConfig config = new WorkerConfig(
                new Hypha(str(h, "serverUrl", "http://127.0.0.1:9527"), str(h, "workspace", ""), str(h, "token", ""),
                        str(h, "clientId", ""), str(h, "serviceId", "k8s-worker"), str(h, "visibility", "protected"),
                        str(h, "publicServerUrl", ""), num(h, "methodTimeoutSeconds", 30),
                        num(h, "sendRatePerSecond", 150), num(h, "sendBurst", 1500)),
                new Kubernetes(str(k, "namespace", "default"), num(k, "defaultTimeout", 3600), num(k, "maxTimeout", 604800),
                        str(k, "imagePullPolicy", "IfNotPresent"), num(k, "ttlSecondsAfterFinished", 3600),
                        num(k, "startTimeoutSeconds", 300), num(k, "unschedulableGraceSeconds", 60),
                        bool(k, "keepFailedJobs", false), num(k, "workerPoolSize", 8), num(k, "suspendedGraceSeconds", 60),
                        stringMap(k, "jobNodeSelector"), tolerations(k, "jobTolerations")),
                jobTypes(t.getJsonObject("jobTypes", new JsonObject())),
                new Policy(list(p, "allowedImages", List.of("**")),
                        quantities(pr, "defaultRequests", Map.of("cpu", "100m", "memory", "256Mi")),
                        quantities(pr, "defaultLimits", Map.of("cpu", "1", "memory", "1Gi")),
                        str(pr, "maxCpu", "4"), str(pr, "maxMemory", "16Gi"), num(pr, "maxGpus", 0),
                        num(p, "maxSessionsPerWorkspace", 20), num(p, "maxSessionsTotal", 200),
                        bool(p, "allowNodeSelector", true), bool(p, "allowTolerations", false),
                        list(p, "allowedServiceAccounts", List.of()), list(p, "allowedSecretNames", List.of()),
                        num(p, "maxManifestBytes", 65536), list(p, "allowedVolumeClaims", List.of()),
                        bool(p, "allowExecute", true), num(p, "maxExecuteOutputBytes", 1048576)),
                new Verticles(num(sub(v, "hyphaBridge"), "instances", 1), num(sub(v, "jobLauncher"), "instances", 2),
                        num(sub(v, "serviceWatcher"), "instances", 1)),
                new Health(num(hl, "port", 8080), str(hl, "host", "0.0.0.0")),
                logs(t.getJsonObject("logs", new JsonObject())),
                new Callers(bool(p, "allowAnonymous", false), num(p, "maxSessionsPerUser", 10), bool(ps, "ownWorkspace", false),
                        list(ps, "allowedWorkspaces", List.of()), list(ps, "allowedUsers", List.of()),
                        str(p, "maxAgentVisibility", "protected")),
                replicas(t.getJsonObject("replicas", new JsonObject()), str(h, "serviceId", "k8s-worker")),
                ports(t.getJsonObject("ports", new JsonObject())));
        config.validate();
        return config;
    }

    private static Map<String, JobTypeSettings> jobTypes(JsonObject given) {
        Map<String, JobTypeSettings> out = new LinkedHashMap<>();
        for (String type : given.fieldNames()) {
            out.put(type, JobTypeSettings.fromJson(type, sub(given, type)));
        }
        return Map.copyOf(out);
    }

    private static Replicas replicas(JsonObject r, String serviceId) {
        String replicaServiceId = str(r, "replicaServiceId", "");
        return new Replicas(bool(r, "leaderElection", false), str(r, "leaseName", "hypha-k8s-worker"),
                num(r, "leaseDurationSeconds", 6), num(r, "renewDeadlineSeconds", 4), num(r, "retryPeriodSeconds", 1),
                replicaServiceId.isBlank() ? serviceId + "-replicas" : replicaServiceId);
    }

    private static Ports ports(JsonObject o) {
        return new Ports(num(o, "maxPerSession", 4), str(o, "maxVisibility", "protected"), num(o, "readySeconds", 300),
                num(o, "connectTimeoutSeconds", 5), num(o, "readTimeoutSeconds", 60), str(o, "baseUrl", ""));
    }

    private static Logs logs(JsonObject l) {
        Object rate = l.getValue("ratePerSecond");
        double ratePerSecond;
        try {
            ratePerSecond = rate == null || rate.toString().isBlank() ? 2.0 : Double.parseDouble(rate.toString().trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("logs.ratePerSecond must be a number, got " + rate);
        }
        return new Logs(num(l, "tailLines", 1000), num(l, "limitBytes", 262144), ratePerSecond, num(l, "burst", 10),
                num(l, "threads", 2), num(l, "queue", 32));
    }

    private void validate() {
        if (!List.of("protected", "public", "unlisted").contains(hypha.visibility())) {
            throw new IllegalArgumentException("hypha.visibility must be protected, public or unlisted, got " + hypha.visibility());
        }
        if (!List.of("Always", "IfNotPresent", "Never").contains(kubernetes.imagePullPolicy())) {
            throw new IllegalArgumentException("kubernetes.imagePullPolicy must be Always, IfNotPresent or Never, got "
                    + kubernetes.imagePullPolicy());
        }
        if (kubernetes.defaultTimeout() <= 0 || kubernetes.defaultTimeout() > kubernetes.maxTimeout()) {
            throw new IllegalArgumentException("kubernetes.defaultTimeout must be between 1 and kubernetes.maxTimeout");
        }
        validateReplicas();
        if (verticles.hyphaBridge() != 1 || verticles.serviceWatcher() != 1) {
            // each holds state: a second bridge would open a second connection, a second watcher duplicate events
            throw new IllegalArgumentException("verticles.hyphaBridge.instances and verticles.serviceWatcher.instances must be 1");
        }
        for (Map.Entry<String, String> q : quantityPaths().entrySet()) {
            try {
                new Quantity(q.getValue()).getNumericalAmount();
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(q.getKey() + " must be a Kubernetes quantity, got " + q.getValue());
            }
        }
        for (String name : List.of("cpu", "memory")) {
            checkOrdered("policy.resources.defaultRequests." + name, policy.defaultRequests().get(name),
                    "policy.resources.defaultLimits." + name, policy.defaultLimits().get(name));
        }
        checkOrdered("policy.resources.defaultLimits.cpu", policy.defaultLimits().get("cpu"), "policy.resources.maxCpu", policy.maxCpu());
        checkOrdered("policy.resources.defaultLimits.memory", policy.defaultLimits().get("memory"), "policy.resources.maxMemory",
                policy.maxMemory());
        jobTypes.forEach((type, settings) -> {
            if (settings.enabled()) {
                checkTypeResources(type, settings);
            }
        });
        for (String glob : policy.allowedImages()) {
            if (glob.contains("@") || glob.lastIndexOf(':') > glob.lastIndexOf('/')) {
                // patterns match <registry>/<repository> only, so a tag would make the pattern match nothing
                throw new IllegalArgumentException("policy.allowedImages: '" + glob + "' has a tag or digest; patterns name "
                        + "<registry>/<repository> only");
            }
        }
        if (policy.maxGpus() < 0 || policy.maxSessionsPerWorkspace() < 0 || policy.maxSessionsTotal() < 0) {
            throw new IllegalArgumentException("policy.resources.maxGpus, policy.maxSessionsPerWorkspace and policy.maxSessionsTotal "
                    + "must not be negative");
        }
        if (policy.maxExecuteOutputBytes() < 1024) {
            throw new IllegalArgumentException("policy.maxExecuteOutputBytes must be at least 1024, got " + policy.maxExecuteOutputBytes());
        }
        if (policy.maxManifestBytes() < 1024) {
            // below this even an ordinary manifest with a caller's token would be refused
            throw new IllegalArgumentException("policy.maxManifestBytes must be at least 1024, got " + policy.maxManifestBytes());
        }
        atLeast("hypha.sendRatePerSecond", hypha.sendRatePerSecond(), 1);
        atLeast("hypha.sendBurst", hypha.sendBurst(), 1);
        atLeast("logs.tailLines", logs.tailLines(), 1);
        atLeast("logs.limitBytes", logs.limitBytes(), 1024);
        atLeast("logs.burst", logs.burst(), 1);
        atLeast("logs.threads", logs.threads(), 1);
        atLeast("logs.queue", logs.queue(), 0);
        atLeast("ports.maxPerSession", ports.maxPerSession(), 0);
        atLeast("ports.readySeconds", ports.readySeconds(), 1);
        atLeast("ports.connectTimeoutSeconds", ports.connectTimeoutSeconds(), 1);
        atLeast("ports.readTimeoutSeconds", ports.readTimeoutSeconds(), 1);
        if (!Callers.VISIBILITIES.contains(ports.maxVisibility())) {
            throw new IllegalArgumentException("ports.maxVisibility must be protected, unlisted or public, got " + ports.maxVisibility());
        }
        if (!(logs.ratePerSecond() > 0) || Double.isInfinite(logs.ratePerSecond())) {
            throw new IllegalArgumentException("logs.ratePerSecond must be a positive number, got " + logs.ratePerSecond());
        }
        validateCallers();
        if (kubernetes.suspendedGraceSeconds() < 1) {
            throw new IllegalArgumentException("kubernetes.suspendedGraceSeconds must be at least 1");
        }
        if (verticles.jobLauncher() < 1) {
            throw new IllegalArgumentException("verticles.jobLauncher.instances must be at least 1");
        }
    }

    private static void atLeast(String path, int value, int least) {
        if (value < least) {
            throw new IllegalArgumentException(path + " must be at least " + least + ", got " + value);
        }
    }

    private void validateReplicas() {
        Replicas r = replicas;
        // fabric8's leader election: a leader renews well before its lease runs out, and retries within that time
        if (r.retryPeriodSeconds() < 1 || r.renewDeadlineSeconds() <= r.retryPeriodSeconds()
                || r.leaseDurationSeconds() <= r.renewDeadlineSeconds()) {
            throw new IllegalArgumentException("replicas: leaseDurationSeconds > renewDeadlineSeconds > retryPeriodSeconds >= 1 must hold, got "
                    + r.leaseDurationSeconds() + ", " + r.renewDeadlineSeconds() + ", " + r.retryPeriodSeconds());
        }
        if (r.replicaServiceId().equals(hypha.serviceId())) {
            throw new IllegalArgumentException("replicas.replicaServiceId must differ from hypha.serviceId (" + hypha.serviceId()
                    + "): only the leader registers that one");
        }
    }

    private void validateCallers() {
        if (callers.maxSessionsPerUser() < 0) {
            throw new IllegalArgumentException("policy.maxSessionsPerUser must not be negative");
        }
        if (!Callers.VISIBILITIES.contains(callers.maxAgentVisibility())) {
            throw new IllegalArgumentException("policy.maxAgentVisibility must be protected, unlisted or public, got "
                    + callers.maxAgentVisibility());
        }
        for (Map.Entry<String, JobTypeSettings> type : jobTypes.entrySet()) {
            // a type default the policy refuses would make every manifest without a visibility fail
            String visibility = type.getValue().visibility();
            if (type.getValue().enabled() && !callers.agentVisibilityAllowed(visibility)) {
                throw new IllegalArgumentException("jobTypes." + type.getKey() + ".visibility (" + visibility
                        + ") is wider than policy.maxAgentVisibility (" + callers.maxAgentVisibility() + ")");
            }
        }
    }

    /** Both set: the first is at most the second (a default a job could not be given is a configuration error). */
    private static void checkOrdered(String lowPath, String low, String highPath, String high) {
        if (low != null && high != null && new Quantity(low).getNumericalAmount().compareTo(new Quantity(high).getNumericalAmount()) > 0) {
            throw new IllegalArgumentException(lowPath + " (" + low + ") must not be more than " + highPath + " (" + high + ")");
        }
    }

    private Map<String, String> quantityPaths() {
        Map<String, String> out = new LinkedHashMap<>();
        jobTypes.forEach((type, settings) -> {
            settings.requests().forEach((name, value) -> out.put("jobTypes." + type + "." + name + "Request", value));
            settings.limits().forEach((name, value) -> out.put("jobTypes." + type + "." + name + "Limit", value));
        });
        out.put("policy.resources.maxCpu", policy.maxCpu());
        out.put("policy.resources.maxMemory", policy.maxMemory());
        policy.defaultRequests().forEach((k, v) -> out.put("policy.resources.defaultRequests." + k, v));
        policy.defaultLimits().forEach((k, v) -> out.put("policy.resources.defaultLimits." + k, v));
        return out;
    }

    /** The settings of one job type ({@code jobTypes.<name>}); a type the file does not name is served, with none. */
    public JobTypeSettings jobType(String name) {
        JobTypeSettings settings = jobTypes.get(name);
        return settings != null ? settings : JobTypeSettings.unset();
    }

    public boolean jobTypeEnabled(String name) {
        return jobType(name).enabled();
    }

    /** A type's default requests and limits: each at most its limit, each limit within the policy's maximum. */
    private void checkTypeResources(String type, JobTypeSettings settings) {
        String prefix = "jobTypes." + type + ".";
        for (String name : List.of("cpu", "memory")) {
            String request = settings.requests().get(name);
            String limit = settings.limits().get(name);
            checkOrdered(prefix + name + "Request", request, prefix + name + "Limit", limit);
        }
        checkOrdered(prefix + "cpuLimit", settings.limits().get("cpu"), "policy.resources.maxCpu", policy.maxCpu());
        checkOrdered(prefix + "memoryLimit", settings.limits().get("memory"), "policy.resources.maxMemory", policy.maxMemory());
    }

    /**
     * The effective settings for the start-up log: every setting, those marked {@link SecretSetting}
     * hidden. The caller rules show under {@code policy}, where the file has them.
     */
    public JsonObject redacted() {
        JsonObject out = Redaction.of(this);
        out.getJsonObject("policy").mergeIn((JsonObject) out.remove("callers"));
        return out;
    }
}
