package io.hypha.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import io.vertx.core.json.JsonObject;

/**
 * A real Python hypha-rpc client in a child process, driven by snippets of async Python
 * ({@code src/test/resources/py/peer.py}). Each snippet's return value comes back as JSON:
 * bytes as {@code {"__bytes__": base64}}, NaN and infinities as {@code {"__float__": "nan"}}.
 */
public final class PythonPeer implements AutoCloseable {

    /** The snippet raised; the message is Python's {@code Type: text}. */
    public static final class PythonError extends RuntimeException {
        public PythonError(String message, String trace) {
            super(message + "\n--- Python traceback ---\n" + trace);
        }
    }

    private final Process process;
    private final OutputStream stdin;
    private final Map<Integer, CompletableFuture<Object>> pending = new ConcurrentHashMap<>();
    private final AtomicInteger ids = new AtomicInteger();
    private final CompletableFuture<JsonObject> ready = new CompletableFuture<>();
    private final Path log;

    private PythonPeer(Process process, Path log) {
        this.process = process;
        this.stdin = process.getOutputStream();
        this.log = log;
        Thread reader = new Thread(this::readLoop, "python-peer-" + process.pid());
        reader.setDaemon(true);
        reader.start();
    }

    static PythonPeer start(String python, Path script, Map<String, Object> config, Duration timeout) {
        try {
            Path logDir = HyphaTestServer.projectDir().resolve("target/python-peers");
            Files.createDirectories(logDir);
            Path log = Files.createTempFile(logDir, "peer-", ".log");
            Process p = new ProcessBuilder(python, "-u", script.toString(), new JsonObject(config).encode())
                    .redirectError(log.toFile())
                    .start();
            PythonPeer peer = new PythonPeer(p, log);
            peer.ready.get(timeout.toSeconds(), TimeUnit.SECONDS);
            return peer;
        } catch (ExecutionException e) {
            throw new IllegalStateException("Python peer failed to connect: " + e.getCause().getMessage(), e.getCause());
        } catch (IOException | TimeoutException e) {
            throw new IllegalStateException("Python peer did not start: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public String workspace() {
        return ready.join().getString("workspace");
    }

    public String clientId() {
        return ready.join().getString("client_id");
    }

    public String fullClientId() {
        return workspace() + "/" + clientId();
    }

    /** Runs a snippet and waits for its result (60 s at most). */
    public Object exec(String code) {
        return exec(code, Duration.ofSeconds(60));
    }

    public Object exec(String code, Duration timeout) {
        try {
            return execAsync(code).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("Python snippet did not finish within " + timeout + ":\n" + code);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public CompletableFuture<Object> execAsync(String code) {
        int id = ids.incrementAndGet();
        CompletableFuture<Object> result = new CompletableFuture<>();
        pending.put(id, result);
        String line = new JsonObject().put("id", id).put("code", code).encode() + "\n";
        synchronized (stdin) {
            try {
                stdin.write(line.getBytes(StandardCharsets.UTF_8));
                stdin.flush();
            } catch (IOException e) {
                pending.remove(id);
                result.completeExceptionally(new IllegalStateException("Python peer is gone", e));
            }
        }
        return result;
    }

    /** SIGKILL: the peer vanishes without a clean disconnect. */
    public void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        try {
            stdin.close();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (IOException e) {
            process.destroyForcibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }

    public static byte[] bytes(Object jsonValue) {
        if (jsonValue instanceof Map<?, ?> m && m.get("__bytes__") instanceof String b64) {
            return Base64.getDecoder().decode(b64);
        }
        if (jsonValue instanceof JsonObject j && j.containsKey("__bytes__")) {
            return Base64.getDecoder().decode(j.getString("__bytes__"));
        }
        throw new IllegalArgumentException("not bytes: " + jsonValue);
    }

    private void readLoop() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                JsonObject msg;
                try {
                    msg = new JsonObject(line);
                } catch (RuntimeException e) {
                    continue;
                }
                if (msg.containsKey("ready")) {
                    ready.complete(msg);
                } else if (msg.containsKey("fatal")) {
                    ready.completeExceptionally(new PythonError(msg.getString("fatal"), msg.getString("trace")));
                } else {
                    CompletableFuture<Object> f = pending.remove(msg.getInteger("id"));
                    if (f == null) {
                        continue;
                    }
                    if (Boolean.TRUE.equals(msg.getBoolean("ok"))) {
                        f.complete(msg.getValue("result"));
                    } else {
                        f.completeExceptionally(new PythonError(msg.getString("error"), msg.getString("trace")));
                    }
                }
            }
        } catch (IOException e) {
            // process ended
        }
        String tail = "";
        try {
            tail = Files.readString(log);
        } catch (IOException e) {
            // no log
        }
        IllegalStateException gone = new IllegalStateException("Python peer exited; stderr:\n"
                + (tail.length() > 4000 ? tail.substring(tail.length() - 4000) : tail));
        ready.completeExceptionally(gone);
        pending.values().forEach(f -> f.completeExceptionally(gone));
    }
}
