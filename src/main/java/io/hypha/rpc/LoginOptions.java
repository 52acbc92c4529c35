package io.hypha.rpc;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

import io.vertx.core.Future;

/**
 * How to log in through the server's login service ({@link HyphaClient#login}), as Python's
 * {@code login()}: the service hands out a login URL for a browser, and the token once the user
 * logged in there.
 */
public final class LoginOptions {

    private String serverUrl;
    private String workspace;
    private Long expiresIn;
    private String loginServiceId = "public/hypha-login";
    private Duration timeout = Duration.ofSeconds(60);
    private Function<Map<String, Object>, Future<?>> loginCallback;

    /** The server, as for {@link ConnectOptions#setServerUrl}. */
    public LoginOptions setServerUrl(String serverUrl) {
        this.serverUrl = serverUrl;
        return this;
    }

    /** A workspace the token should be scoped to; null for the user's own. */
    public LoginOptions setWorkspace(String workspace) {
        this.workspace = workspace;
        return this;
    }

    /** The token's lifetime in seconds; null for the server's default. */
    public LoginOptions setExpiresIn(Long expiresIn) {
        this.expiresIn = expiresIn;
        return this;
    }

    public LoginOptions setLoginServiceId(String loginServiceId) {
        this.loginServiceId = Objects.requireNonNull(loginServiceId);
        return this;
    }

    /** How long to wait for the user to log in. */
    public LoginOptions setTimeout(Duration timeout) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive");
        }
        this.timeout = timeout;
        return this;
    }

    /**
     * Gets the login context ({@code login_url} to show the user, {@code key}, {@code report_url},
     * ...) once the login started; the default logs the URL.
     */
    public LoginOptions setLoginCallback(Function<Map<String, Object>, Future<?>> loginCallback) {
        this.loginCallback = loginCallback;
        return this;
    }

    public String getServerUrl() {
        return serverUrl;
    }

    public String getWorkspace() {
        return workspace;
    }

    public Long getExpiresIn() {
        return expiresIn;
    }

    public String getLoginServiceId() {
        return loginServiceId;
    }

    public Duration getTimeout() {
        return timeout;
    }

    public Function<Map<String, Object>, Future<?>> getLoginCallback() {
        return loginCallback;
    }
}
