package io.hypha.rpc;

import java.util.LinkedHashMap;
import java.util.Map;

import io.vertx.core.Future;

/**
 * An interface object another peer sent ({@code "_rintf": true}): a map of its values and
 * functions ({@link RemoteMethod}s) that outlive the call that brought them, served by the sender
 * to this client only. {@link #dispose()} tells the sender to let go of it.
 */
public final class RemoteInterface extends LinkedHashMap<String, Object> {

    RemoteInterface(Map<String, Object> decoded) {
        super(decoded);
    }

    /** The sender's id for it ({@code _rintf_<id>}). */
    public String interfaceId() {
        Object id = get("_rintf_service_id");
        return id == null ? null : id.toString();
    }

    /** One of its functions by name, or null. */
    public RemoteMethod function(String name) {
        return get(name) instanceof RemoteMethod m ? m : null;
    }

    /** Calls the sender's {@code _dispose}: its functions are removed there and no longer answer. */
    public Future<Void> dispose() {
        RemoteMethod dispose = function("_dispose");
        return dispose == null ? Future.succeededFuture() : dispose.call().mapEmpty();
    }
}
