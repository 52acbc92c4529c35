package io.hypha.rpc;

import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.vertx.core.Future;

/**
 * A function of another peer: a service method, or a callback it passed to us. Calling it sends a
 * message to its owner and completes with the reply. Sent onward in arguments or results it travels
 * as the same reference, so a third peer calls the owner directly.
 */
public final class RemoteMethod {

    private final HyphaClient client;
    private final Map<String, Object> encoded;
    private final String remoteParent;

    RemoteMethod(HyphaClient client, Map<String, Object> encoded, String remoteParent) {
        this.client = client;
        this.encoded = Collections.unmodifiableMap(new LinkedHashMap<>(encoded));
        this.remoteParent = remoteParent;
    }

    public Future<Object> call(Object... args) {
        return client.callRemote(this, Arrays.asList(args), Map.of(), null);
    }

    public Future<Object> callWithKwargs(List<?> args, Map<String, ?> kwargs) {
        return client.callRemote(this, args, kwargs, null);
    }

    /** A call with its own timeout instead of the client's method timeout. */
    public Future<Object> callWithTimeout(Duration timeout, List<?> args, Map<String, ?> kwargs) {
        return client.callRemote(this, args, kwargs, timeout);
    }

    /** The owner: {@code workspace/client_id}. */
    public String target() {
        return (String) encoded.get("_rtarget");
    }

    /** The method path at the owner. */
    public String path() {
        return (String) encoded.get("_rmethod");
    }

    public String name() {
        Object n = encoded.get("_rname");
        return n == null ? null : n.toString();
    }

    public String doc() {
        Object d = encoded.get("_rdoc");
        return d == null ? null : d.toString();
    }

    /** The {@code _rtype: method} map as received (target already qualified with its workspace). */
    Map<String, Object> encoded() {
        return encoded;
    }

    /** The owner's session this function belongs to; sent as {@code parent} with every call. */
    String remoteParent() {
        return remoteParent;
    }

    @Override
    public String toString() {
        return "RemoteMethod[" + target() + ":" + path() + "]";
    }
}
