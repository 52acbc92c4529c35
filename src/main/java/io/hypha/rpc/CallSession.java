package io.hypha.rpc;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.vertx.core.Promise;

/**
 * One outgoing call: its reply channel, timer, and the callbacks and generators passed in it. Only
 * the call's target may call those back.
 */
final class CallSession {
    final String id;
    final String targetId;
    final Map<String, RpcFunction> callbacks = new HashMap<>();
    /** Generators this session serves to its target, closed when the session goes. */
    final List<ServedGenerator> generators = new ArrayList<>(1);
    /** Null for a call that expects no reply: the session then only holds callbacks. */
    Promise<Object> promise;
    String description;
    long timeoutMs;
    long timerId = -1;
    long lastActivityNanos = System.nanoTime();

    CallSession(String id, String targetId) {
        this.id = id;
        this.targetId = targetId;
    }
}
