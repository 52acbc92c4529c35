package io.hypha.k8sworker.bridge;

import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.hypha.rpc.RemoteMethod;

/** A caller's progress callback, if it gave one: {@code {type, message}} as Hypha's workers send them. */
final class Progress {

    private static final Logger LOG = LoggerFactory.getLogger(Progress.class);

    private final RemoteMethod callback;

    private Progress(RemoteMethod callback) {
        this.callback = callback;
    }

    /** The callback among a call's arguments or config; one that is not a function is no callback. */
    static Progress of(Object argument) {
        return new Progress(argument instanceof RemoteMethod m ? m : null);
    }

    /** Tells the caller; a caller that does not answer only loses its own progress. */
    void report(String type, String message) {
        report(Map.of("type", type, "message", message));
    }

    void report(Map<String, Object> message) {
        if (callback != null) {
            callback.call(message).onFailure(err -> LOG.debug("progress callback failed: {}", err.getMessage()));
        }
    }
}
