package io.hypha.k8sworker.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import io.fabric8.kubernetes.api.model.Quantity;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The worker's settings: {@code conf/config.yaml} (or the copy inside the jar), overridden by
 * environment variables. Loaded once at start-up, before any event loop runs.
 */
public record WorkerConfig(Hypha hypha, Kubernetes kubernetes, JsonObject jobTypes, Policy policy, Verticles verticles,
                           Health health, Logs logs, Callers callers, Replicas replicas) {

    /** claude-agent's requests and limits when jobTypes.claude-agent sets none. */
    public static final String AGENT_CPU_REQUEST = "500m";
    public static final String AGENT_MEMORY_REQUEST = "512Mi";
    public static final String AGENT_CPU_LIMIT = "2";
    public static final String AGENT_MEMORY_LIMIT = "2Gi";

    public record Hypha(String serverUrl, String workspace, String token, String clientId, String serviceId,
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

    static final java.util.Set<String> TOLERATION_FIELDS = java.util.Set.of("key", "operator", "value", "effect", "tolerationSeconds");

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

    /** The original worker's variables, mapped to their config paths. */
    static final Map<String, String> LEGACY_ENV = Map.ofEntries(
            Map.entry("HYPHA_SERVER_URL", "hypha.serverUrl"),
            Map.entry("HYPHA_WORKSPACE", "hypha.workspace"),
            Map.entry("HYPHA_TOKEN", "hypha.token"),
            Map.entry("HYPHA_CLIENT_ID", "hypha.clientId"),
            Map.entry("HYPHA_SERVICE_ID", "hypha.serviceId"),
            Map.entry("HYPHA_VISIBILITY", "hypha.visibility"),
            Map.entry("HYPHA_PUBLIC_SERVER_URL", "hypha.publicServerUrl"),
            Map.entry("HYPHA_K8S_NAMESPACE", "kubernetes.namespace"),
            Map.entry("HYPHA_K8S_DEFAULT_TIMEOUT", "kubernetes.defaultTimeout"),
            Map.entry("HYPHA_K8S_MAX_TIMEOUT", "kubernetes.maxTimeout"),
            Map.entry("HYPHA_K8S_IMAGE_PULL_POLICY", "kubernetes.imagePullPolicy"));

    static final String ENV_PREFIX = "HYPHA_K8S_WORKER_";

    /** Loads the file (null: {@code conf/config.yaml} if present, else the defaults inside the jar) and applies the environment. */
    public static WorkerConfig load(Path file, Map<String, String> env) {
        JsonObject tree = new JsonObject(readYaml(file));
        applyEnv(tree, env);
        return fromJson(tree);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> readYaml(Path file) {
        Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
        try {
            Path path = file != null ? file : Path.of("conf/config.yaml");
            if (Files.isRegularFile(path)) {
                try (InputStream in = Files.newInputStream(path)) {
                    return (Map<String, Object>) yaml.load(in);
                }
            }
            if (file != null) {
                throw new IllegalArgumentException("config file not found: " + file);
            }
            try (InputStream in = WorkerConfig.class.getResourceAsStream("/config.yaml")) {
                if (in == null) {
                    throw new IllegalStateException("no conf/config.yaml and no default config in the jar");
                }
                return (Map<String, Object>) yaml.load(in);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the configuration: " + e.getMessage(), e);
        }
    }

    static void applyEnv(JsonObject tree, Map<String, String> env) {
        LEGACY_ENV.forEach((name, path) -> {
            String v = env.get(name);
            if (v != null) {
                set(tree, path, v);
            }
        });
        for (Map.Entry<String, String> e : env.entrySet()) {
            if (e.getKey().startsWith(ENV_PREFIX)) {
                String path = pathFromEnv(tree, e.getKey().substring(ENV_PREFIX.length()));
                if (path != null) {
                    set(tree, path, e.getValue());
                }
            }
        }
    }

    /** Finds the config path whose upper-cased, underscore-joined form is the variable's suffix. */
    private static String pathFromEnv(JsonObject tree, String suffix) {
        for (String path : leafPaths(tree, "")) {
            String envForm = path.replaceAll("([a-z])([A-Z])", "$1_$2").replace('.', '_').replace('-', '_').toUpperCase(Locale.ROOT);
            if (envForm.equals(suffix)) {
                return path;
            }
        }
        return null;
    }

    private static List<String> leafPaths(JsonObject node, String prefix) {
        List<String> out = new java.util.ArrayList<>();
        for (String key : node.fieldNames()) {
            Object v = node.getValue(key);
            // an empty map (e.g. kubernetes.jobNodeSelector: {}) is a setting of its own
            if (v instanceof JsonObject child && !child.isEmpty()) {
                out.addAll(leafPaths(child, prefix + key + "."));
            } else {
                out.add(prefix + key);
            }
        }
        return out;
    }

    private static void set(JsonObject tree, String path, String value) {
        String[] parts = path.split("\\.");
        JsonObject node = tree;
        for (int i = 0; i < parts.length - 1; i++) {
            JsonObject child = node.getJsonObject(parts[i]);
            if (child == null) {
                child = new JsonObject();
                node.put(parts[i], child);
            }
            node = child;
        }
        node.put(parts[parts.length - 1], value);
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
                t.getJsonObject("jobTypes", new JsonObject()),
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
                replicas(t.getJsonObject("replicas", new JsonObject()), str(h, "serviceId", "k8s-worker")));
        config.validate();
        return config;
    }

    private static Replicas replicas(JsonObject r, String serviceId) {
        String replicaServiceId = str(r, "replicaServiceId", "");
        return new Replicas(bool(r, "leaderElection", false), str(r, "leaseName", "hypha-k8s-worker"),
                num(r, "leaseDurationSeconds", 8), num(r, "renewDeadlineSeconds", 6), num(r, "retryPeriodSeconds", 2),
                replicaServiceId.isBlank() ? serviceId + "-replicas" : replicaServiceId);
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
        if (jobTypeEnabled("claude-agent")) {
            JsonObject agent = jobType("claude-agent");
            String cpuLimit = agent.getString("cpuLimit", AGENT_CPU_LIMIT);
            String memoryLimit = agent.getString("memoryLimit", AGENT_MEMORY_LIMIT);
            checkOrdered("jobTypes.claude-agent.cpuRequest", agent.getString("cpuRequest", AGENT_CPU_REQUEST),
                    "jobTypes.claude-agent.cpuLimit", cpuLimit);
            checkOrdered("jobTypes.claude-agent.memoryRequest", agent.getString("memoryRequest", AGENT_MEMORY_REQUEST),
                    "jobTypes.claude-agent.memoryLimit", memoryLimit);
            checkOrdered("jobTypes.claude-agent.cpuLimit", cpuLimit, "policy.resources.maxCpu", policy.maxCpu());
            checkOrdered("jobTypes.claude-agent.memoryLimit", memoryLimit, "policy.resources.maxMemory", policy.maxMemory());
        }
        for (String type : jobTypes.fieldNames()) {
            Object allowedEnv = jobType(type).getValue("allowedEnv");
            if (allowedEnv != null && !(allowedEnv instanceof JsonArray a && a.stream().allMatch(String.class::isInstance))) {
                throw new IllegalArgumentException("jobTypes." + type + ".allowedEnv must be a list of variable names, got " + allowedEnv);
            }
        }
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
        for (String type : List.of("claude-agent", "conda-worker")) {
            // a type default the policy refuses would make every manifest without a visibility fail
            String visibility = jobType(type).getString("visibility", "protected");
            if (jobTypeEnabled(type) && !callers.agentVisibilityAllowed(visibility)) {
                throw new IllegalArgumentException("jobTypes." + type + ".visibility (" + visibility
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
        for (String key : List.of("cpuRequest", "memoryRequest", "cpuLimit", "memoryLimit")) {
            String value = jobType("claude-agent").getString(key);
            if (value != null) {
                out.put("jobTypes.claude-agent." + key, value);
            }
        }
        out.put("policy.resources.maxCpu", policy.maxCpu());
        out.put("policy.resources.maxMemory", policy.maxMemory());
        policy.defaultRequests().forEach((k, v) -> out.put("policy.resources.defaultRequests." + k, v));
        policy.defaultLimits().forEach((k, v) -> out.put("policy.resources.defaultLimits." + k, v));
        return out;
    }

    /** The settings of one job type ({@code jobTypes.<name>}), empty if none. */
    public JsonObject jobType(String name) {
        return jobTypes.getJsonObject(name, new JsonObject());
    }

    public boolean jobTypeEnabled(String name) {
        return bool(jobType(name), "enabled", true);
    }

    /** The effective settings without secrets, for the start-up log. */
    public JsonObject redacted() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("hypha", new JsonObject().put("serverUrl", hypha.serverUrl()).put("workspace", hypha.workspace())
                .put("token", hypha.token().isEmpty() ? "" : "***").put("serviceId", hypha.serviceId())
                .put("visibility", hypha.visibility()).put("sendRatePerSecond", hypha.sendRatePerSecond())
                .put("sendBurst", hypha.sendBurst()));
        m.put("kubernetes", new JsonObject().put("namespace", kubernetes.namespace()).put("defaultTimeout", kubernetes.defaultTimeout())
                .put("maxTimeout", kubernetes.maxTimeout()).put("imagePullPolicy", kubernetes.imagePullPolicy())
                .put("ttlSecondsAfterFinished", kubernetes.ttlSecondsAfterFinished())
                .put("startTimeoutSeconds", kubernetes.startTimeoutSeconds()).put("keepFailedJobs", kubernetes.keepFailedJobs())
                .put("suspendedGraceSeconds", kubernetes.suspendedGraceSeconds())
                .put("jobNodeSelector", kubernetes.jobNodeSelector()).put("jobTolerations", kubernetes.jobTolerations()));
        m.put("policy", new JsonObject().put("allowedImages", policy.allowedImages())
                .put("defaultRequests", policy.defaultRequests()).put("defaultLimits", policy.defaultLimits())
                .put("maxCpu", policy.maxCpu()).put("maxMemory", policy.maxMemory()).put("maxGpus", policy.maxGpus())
                .put("maxSessionsPerWorkspace", policy.maxSessionsPerWorkspace()).put("maxSessionsTotal", policy.maxSessionsTotal())
                .put("allowNodeSelector", policy.allowNodeSelector()).put("allowTolerations", policy.allowTolerations())
                .put("allowedServiceAccounts", policy.allowedServiceAccounts()).put("allowedSecretNames", policy.allowedSecretNames())
                .put("allowAnonymous", callers.allowAnonymous()).put("maxSessionsPerUser", callers.maxSessionsPerUser())
                .put("operatorSecretTypes", new JsonObject().put("ownWorkspace", callers.operatorSecretOwnWorkspace())
                        .put("allowedWorkspaces", callers.operatorSecretWorkspaces())
                        .put("allowedUsers", callers.operatorSecretUsers()))
                .put("maxAgentVisibility", callers.maxAgentVisibility())
                .put("maxManifestBytes", policy.maxManifestBytes()).put("allowedVolumeClaims", policy.allowedVolumeClaims())
                .put("allowExecute", policy.allowExecute()).put("maxExecuteOutputBytes", policy.maxExecuteOutputBytes()));
        m.put("logs", new JsonObject().put("tailLines", logs.tailLines()).put("limitBytes", logs.limitBytes())
                .put("ratePerSecond", logs.ratePerSecond()).put("burst", logs.burst()).put("threads", logs.threads())
                .put("queue", logs.queue()));
        m.put("verticles", new JsonObject().put("hyphaBridge", verticles.hyphaBridge()).put("jobLauncher", verticles.jobLauncher())
                .put("serviceWatcher", verticles.serviceWatcher()));
        m.put("health", new JsonObject().put("host", health.host()).put("port", health.port()));
        return new JsonObject(m);
    }

    /** A map of strings (YAML), or "k=v,k2=v2" from an environment variable. */
    static Map<String, String> stringMap(JsonObject o, String key) {
        Object v = o.getValue(key);
        Map<String, String> out = new LinkedHashMap<>();
        if (v == null || v.toString().isBlank()) {
            return out;
        }
        if (v instanceof JsonObject m) {
            m.forEach(e -> {
                if (!(e.getValue() instanceof String || e.getValue() instanceof Number || e.getValue() instanceof Boolean)) {
                    throw new IllegalArgumentException("kubernetes." + key + "." + e.getKey() + " must be a string, got " + e.getValue());
                }
                out.put(e.getKey(), e.getValue().toString());
            });
            return out;
        }
        for (String pair : v.toString().split(",")) {
            int eq = pair.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("kubernetes." + key + " must be a map, or key=value pairs separated by commas, got " + v);
            }
            out.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
        }
        return out;
    }

    /** Kubernetes tolerations (key, operator, value, effect, tolerationSeconds), as YAML or as JSON from an environment variable. */
    static List<Map<String, Object>> tolerations(JsonObject o, String key) {
        Object v = o.getValue(key);
        if (v == null || v.toString().isBlank()) {
            return List.of();
        }
        JsonArray items;
        try {
            items = v instanceof JsonArray a ? a : new JsonArray(v.toString());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("kubernetes." + key + " must be a list of tolerations, got " + v);
        }
        List<Map<String, Object>> out = new java.util.ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            if (!(items.getValue(i) instanceof JsonObject t)) {
                throw new IllegalArgumentException("kubernetes." + key + "[" + i + "] must be a toleration (a map), got " + items.getValue(i));
            }
            for (String field : t.fieldNames()) {
                if (!TOLERATION_FIELDS.contains(field)) {
                    throw new IllegalArgumentException("kubernetes." + key + "[" + i + "]." + field + " is not a toleration field (one of "
                            + new java.util.TreeSet<>(TOLERATION_FIELDS) + ")");
                }
            }
            Object seconds = t.getValue("tolerationSeconds");
            if (seconds != null && !(seconds instanceof Number)) {
                throw new IllegalArgumentException("kubernetes." + key + "[" + i + "].tolerationSeconds must be a number, got " + seconds);
            }
            out.add(t.getMap());
        }
        return List.copyOf(out);
    }

    private static JsonObject sub(JsonObject o, String key) {
        return o.getJsonObject(key, new JsonObject());
    }

    private static String str(JsonObject o, String key, String def) {
        Object v = o.getValue(key);
        return v == null ? def : v.toString();
    }

    /** A list from YAML, or from an environment variable as comma-separated items. */
    static List<String> list(JsonObject o, String key, List<String> def) {
        Object v = o.getValue(key);
        if (v == null) {
            return def;
        }
        if (v instanceof io.vertx.core.json.JsonArray a) {
            return a.stream().map(String::valueOf).toList();
        }
        return java.util.Arrays.stream(v.toString().split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }

    private static Map<String, String> quantities(JsonObject o, String key, Map<String, String> def) {
        JsonObject q = o.getJsonObject(key);
        if (q == null) {
            return def;
        }
        Map<String, String> out = new LinkedHashMap<>();
        q.forEach(e -> {
            if (e.getValue() != null && !e.getValue().toString().isBlank()) {
                out.put(e.getKey(), e.getValue().toString());
            }
        });
        return out;
    }

    static int num(JsonObject o, String key, int def) {
        Object v = o.getValue(key);
        if (v == null || v.toString().isBlank()) {
            return def;
        }
        try {
            return v instanceof Number n ? n.intValue() : Integer.parseInt(v.toString().trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be a whole number, got " + v);
        }
    }

    static boolean bool(JsonObject o, String key, boolean def) {
        Object v = o.getValue(key);
        return v == null ? def : Boolean.parseBoolean(v.toString());
    }
}
