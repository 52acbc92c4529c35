package io.hypha.k8sworker.kube;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * The labels and annotations that make a Job a session. Kubernetes is the worker's database: from
 * these alone a restarted worker, or a second one, knows every session.
 */
public final class SessionMeta {

    public static final String MANAGED_BY = "app.kubernetes.io/managed-by";
    public static final String MANAGED_BY_VALUE = "hypha-k8s-worker";
    public static final String COMPONENT = "app.kubernetes.io/component";
    public static final String COMPONENT_VALUE = "hypha-session";
    public static final String JOB_TYPE = "hypha.amun.ai/job-type";
    public static final String SESSION_KEY = "hypha.amun.ai/session-key";
    public static final String WORKER = "hypha.amun.ai/worker";

    public static final String SESSION_ID = "hypha.amun.ai/session-id";
    public static final String WORKSPACE = "hypha.amun.ai/workspace";
    public static final String APP_ID = "hypha.amun.ai/app-id";
    public static final String CLIENT_ID = "hypha.amun.ai/client-id";
    public static final String CALLER = "hypha.amun.ai/caller";
    /** The Hypha user id of whoever started the session: per-user limits count from it. */
    public static final String USER = "hypha.amun.ai/user";
    public static final String CREATED_AT = "hypha.amun.ai/created-at";
    /** On sessions of daemon apps the app controller started: the app (its artifact), whose newest session replaces older ones. */
    public static final String DAEMON_APP = "hypha.amun.ai/daemon-app";
    public static final String SERVICE_ID = "hypha.amun.ai/service-id";
    public static final String ENTRY_POINT = "hypha.amun.ai/entry-point";
    /** The session's web ports (manifest.ports, compiled, as a JSON array): a restarted worker publishes them again. */
    public static final String PORTS = "hypha.amun.ai/ports";

    /** The main container of every session pod; logs are read from it. */
    public static final String MAIN_CONTAINER = "main";
    /** Key of the per-session token in its Secret. */
    public static final String TOKEN_KEY = "HYPHA_TOKEN";

    private SessionMeta() {
    }

    /** A label-safe, collision-resistant key of a session id (which may contain '/' and be long). */
    public static String sessionKey(String sessionId) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(sessionId.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 10);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Job name: readable part from the client id, plus a hash of the whole session id so that two
     * sessions never share a name; a valid DNS-1123 label of at most 63 characters.
     */
    public static String jobName(String sessionId, String clientId) {
        String readable = clientId == null ? "" : clientId.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]+", "-")
                .replaceAll("-+", "-").replaceAll("^-|-$", "");
        if (readable.length() > 30) {
            readable = readable.substring(0, 30).replaceAll("-$", "");
        }
        String key = sessionKey(sessionId).substring(0, 12);
        return readable.isEmpty() ? "hypha-" + key : "hypha-" + readable + "-" + key;
    }

    /** Label value naming the worker that owns a session (its service id, made label-safe). */
    public static String workerLabel(String serviceId) {
        String v = serviceId.replaceAll("[^A-Za-z0-9_.-]", "-");
        if (v.length() > 63) {
            v = v.substring(0, 63);
        }
        return v.replaceAll("^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "");
    }

    public static String tokenSecretName(String jobName) {
        return jobName + "-token";
    }
}
