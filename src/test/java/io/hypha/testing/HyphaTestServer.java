package io.hypha.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A real Hypha server started by {@code scripts/hypha-server.sh}, found through the env file the
 * script writes. Tests fail (never skip) when it is not running: run {@code scripts/test.sh}, or
 * start it with {@code scripts/hypha-server.sh start}.
 */
public final class HyphaTestServer {

    private static final Path RUN_DIR = Path.of(System.getProperty("user.home"), ".cache", "hypha-k8s-worker", "run");
    private static final Path PROJECT_DIR = findProjectDir();

    private final String instance;
    private Map<String, String> env;

    private HyphaTestServer(String instance, Map<String, String> env) {
        this.instance = instance;
        this.env = env;
    }

    /** The shared instance that {@code scripts/test.sh} starts. */
    public static HyphaTestServer shared() {
        String override = System.getenv("HYPHA_TEST_ENV_FILE");
        Path file = override != null ? Path.of(override) : RUN_DIR.resolve("hypha.env");
        if (!Files.isRegularFile(file)) {
            throw new IllegalStateException("No Hypha test server: " + file + " is missing. Start it with "
                    + "`scripts/hypha-server.sh start` or run the tests with `scripts/test.sh`.");
        }
        return new HyphaTestServer("default", readEnv(file));
    }

    /**
     * A private instance for tests that stop, kill or reconfigure the server. Extra environment
     * (e.g. {@code HYPHA_WS_IDLE_TIMEOUT}) goes to the server process.
     */
    public static HyphaTestServer startPrivate(String instance, Map<String, String> extraEnv) {
        HyphaTestServer server = new HyphaTestServer(instance, Map.of());
        server.script("start", extraEnv);
        server.env = readEnv(RUN_DIR.resolve("hypha-" + instance + ".env"));
        return server;
    }

    public String url() {
        return env.get("HYPHA_SERVER_URL");
    }

    /**
     * The server's URL on the real node's bridge address, which pods reach (scripts/hypha-server.sh
     * relays it there when the bridge exists).
     */
    public String bridgeUrl() {
        String url = env.get("HYPHA_BRIDGE_URL");
        if (url == null) {
            throw new IllegalStateException("The Hypha server is not reachable from the real node: no HYPHA_BRIDGE_URL in its env file. "
                    + "Start the cluster first (scripts/k8s-cluster.sh start), then scripts/hypha-server.sh start.");
        }
        return url;
    }

    public String rootToken() {
        return env.get("HYPHA_ROOT_TOKEN");
    }

    /** Token of a regular user who administers its own workspace {@link #userWorkspace()}. */
    public String userToken() {
        return env.get("HYPHA_USER_TOKEN");
    }

    public String userWorkspace() {
        return env.get("HYPHA_USER_WORKSPACE");
    }

    /**
     * A token of a regular (non-admin) user {@code userId} who administers its own workspace
     * {@code ws-user-<userId>}, signed with the server's JWT secret by Hypha's own code, as
     * {@code scripts/hypha-server.sh} makes {@link #userToken()}.
     */
    public String tokenFor(String userId) {
        return tokenFor(userId, Map.of("ws-user-" + userId, "admin"), "ws-user-" + userId);
    }

    /**
     * A token of a regular user with the given permissions ({@code read}, {@code read_write} or
     * {@code admin}) in the given workspaces, logging in to {@code currentWorkspace}.
     */
    public String tokenFor(String userId, Map<String, String> permissions, String currentWorkspace) {
        String script = """
                import json, sys
                from hypha.core import UserInfo, UserPermission
                from hypha.core.auth import _generate_presigned_token, create_scope
                user, permissions, current = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
                info = UserInfo(id=user, is_anonymous=False, email=None, parent=None, roles=["user"], expires_at=None,
                                scope=create_scope(workspaces={ws: UserPermission[p] for ws, p in permissions.items()},
                                                   current_workspace=current))
                print(_generate_presigned_token(info, 24 * 3600))
                """;
        ProcessBuilder pb = new ProcessBuilder(python(), "-c", script, userId, new io.vertx.core.json.JsonObject(
                new LinkedHashMap<String, Object>(permissions)).encode(), currentWorkspace);
        pb.environment().put("HYPHA_JWT_SECRET", jwtSecret());
        pb.redirectErrorStream(true);
        try {
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("cannot make a token for " + userId + ":\n" + out);
            }
            return out.substring(out.lastIndexOf('\n') + 1);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public String python() {
        return env.get("HYPHA_PYTHON");
    }

    public String jwtSecret() {
        return env.get("HYPHA_JWT_SECRET");
    }

    public void stop() {
        script("stop", Map.of());
    }

    /** SIGKILL, as a crash would. */
    public void kill() {
        script("kill", Map.of());
    }

    public void start(Map<String, String> extraEnv) {
        script("start", extraEnv);
    }

    public void restart(Map<String, String> extraEnv) {
        script("restart", extraEnv);
    }

    private void script(String command, Map<String, String> extraEnv) {
        List<String> cmd = new ArrayList<>(List.of("bash", PROJECT_DIR.resolve("scripts/hypha-server.sh").toString(), command));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("HYPHA_INSTANCE", instance);
        pb.environment().putAll(extraEnv);
        try {
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("scripts/hypha-server.sh " + command + " failed:\n" + out);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot run scripts/hypha-server.sh", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** A Python hypha-rpc client connected to this server. */
    public PythonPeer python(Map<String, Object> connectConfig) {
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("server_url", url());
        config.putAll(connectConfig);
        return PythonPeer.start(python(), PROJECT_DIR.resolve("src/test/resources/py/peer.py"), config, Duration.ofSeconds(60));
    }

    public static Path projectDir() {
        return PROJECT_DIR;
    }

    private static Map<String, String> readEnv(Path file) {
        Map<String, String> values = new LinkedHashMap<>();
        try {
            for (String line : Files.readAllLines(file)) {
                int eq = line.indexOf('=');
                if (eq > 0 && !line.startsWith("#")) {
                    String v = line.substring(eq + 1).trim();
                    if (v.length() >= 2 && (v.startsWith("\"") && v.endsWith("\"") || v.startsWith("'") && v.endsWith("'"))) {
                        v = v.substring(1, v.length() - 1);
                    }
                    values.put(line.substring(0, eq).trim().replaceFirst("^export\\s+", ""), v);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + file, e);
        }
        return values;
    }

    private static Path findProjectDir() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("scripts/hypha-server.sh"))) {
            dir = dir.getParent();
        }
        return dir == null ? Path.of("").toAbsolutePath() : dir;
    }

    public static Duration timeout() {
        return Duration.ofSeconds(30);
    }
}
