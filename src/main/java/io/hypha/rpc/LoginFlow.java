package io.hypha.rpc;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vertx.core.Future;
import io.vertx.core.Vertx;

/** A login through the server's login service, as Python's {@code login()} does it. */
final class LoginFlow {

    private static final Logger LOG = LoggerFactory.getLogger(HyphaClient.class);

    private LoginFlow() {
    }

    /** Connects anonymously, starts a login, shows it to the user, and waits for its token or profile. */
    @SuppressWarnings("unchecked")
    static Future<Object> loginCheck(Vertx vertx, LoginOptions options, boolean profile) {
        long timeoutSeconds = Math.max(1, options.getTimeout().toSeconds());
        return HyphaClient.connect(vertx, new ConnectOptions().setServerUrl(options.getServerUrl())
                .setMethodTimeout(options.getTimeout()).setReconnect(false)).compose(client -> {
            Future<Object> token = client.getService(options.getLoginServiceId()).compose(svc -> {
                Map<String, Object> startArgs = new LinkedHashMap<>();
                if (options.getWorkspace() != null) {
                    startArgs.put("workspace", options.getWorkspace());
                    startArgs.put("expires_in", options.getExpiresIn());
                }
                return svc.callWithKwargs("start", List.of(), startArgs).compose(started -> {
                    if (!(started instanceof Map<?, ?> context) || !(context.get("key") instanceof String key)) {
                        return Future.failedFuture(new HyphaException("the login service did not start a login: " + started));
                    }
                    Future<?> shown;
                    if (options.getLoginCallback() != null) {
                        shown = options.getLoginCallback().apply((Map<String, Object>) context);
                    } else {
                        LOG.info("Please open your browser and log in at {}", context.get("login_url"));
                        shown = Future.succeededFuture();
                    }
                    // the check waits up to the timeout itself; the call may take a little longer
                    return (shown == null ? Future.succeededFuture() : shown).compose(x -> svc.method("check")
                            .callWithTimeout(options.getTimeout().plusSeconds(30), List.of(key),
                                    Map.of("timeout", timeoutSeconds, "profile", profile)));
                });
            });
            return token.eventually(client::disconnect);
        });
    }
}
