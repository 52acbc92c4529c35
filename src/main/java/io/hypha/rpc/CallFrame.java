package io.hypha.rpc;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.vertx.core.buffer.Buffer;

/**
 * The wire form of one call. Its first segment routes it (the server stamps the sender into it, so
 * only that segment says who called); the second carries the arguments and the reply channel.
 */
final class CallFrame {

    final Map<String, Object> main = new LinkedHashMap<>();
    final Map<String, Object> extra = new LinkedHashMap<>();

    private CallFrame() {
    }

    /** A call of {@code path} at {@code target}; with {@code withKwargs} the last argument is the keywords. */
    static CallFrame call(String from, String target, String path, String parent, List<Object> encodedArgs, boolean withKwargs) {
        CallFrame frame = new CallFrame();
        frame.main.put("type", "method");
        frame.main.put("from", from);
        frame.main.put("to", target);
        frame.main.put("method", path);
        if (parent != null) {
            frame.main.put("parent", parent);
        }
        if (!encodedArgs.isEmpty()) {
            frame.extra.put("args", encodedArgs);
        }
        if (withKwargs) {
            frame.extra.put("with_kwargs", true);
        }
        return frame;
    }

    /**
     * Asks for a reply to our session {@code sessionId}. In the short form ({@code "*"}) the receiver
     * answers {@code <session>.resolve}, {@code .reject} and {@code .heartbeat} at the sender the
     * server stamped; the long form names those functions.
     */
    void expectReply(String self, String sessionId, boolean shortForm, double heartbeatSeconds) {
        main.put("session", sessionId);
        if (shortForm) {
            extra.put("promise", "*");
            extra.put("t", heartbeatSeconds);
            return;
        }
        Map<String, Object> promise = new LinkedHashMap<>();
        promise.put("resolve", MethodRef.unanswered(self, sessionId + ".resolve"));
        promise.put("reject", MethodRef.unanswered(self, sessionId + ".reject"));
        promise.put("heartbeat", MethodRef.unanswered(self, sessionId + ".heartbeat"));
        promise.put("interval", heartbeatSeconds);
        extra.put("promise", promise);
    }

    Buffer pack() {
        return MsgpackCodec.packFrame(main, extra);
    }

    /** An incoming call's arguments, decoded: positional ones, and the keywords when the caller sent them last. */
    record Arguments(List<Object> positional, Map<String, Object> keywords) {

        @SuppressWarnings("unchecked")
        static Arguments split(List<Object> decoded, Object withKwargs) {
            Map<String, Object> kwargs = new LinkedHashMap<>();
            List<Object> args = decoded;
            if (Boolean.TRUE.equals(withKwargs) && !args.isEmpty() && args.get(args.size() - 1) instanceof Map<?, ?> kw) {
                args = new ArrayList<>(args);
                args.remove(args.size() - 1);
                kwargs.putAll((Map<String, Object>) kw);
            }
            return new Arguments(args, kwargs);
        }
    }

    /** The caller's context of an incoming call, made from the segment the server stamped. */
    @SuppressWarnings("unchecked")
    static CallContext context(Map<String, Object> stamped) {
        return new CallContext(str(stamped.get("from")), str(stamped.get("to")), str(stamped.get("ws")),
                stamped.get("user") instanceof Map<?, ?> u ? (Map<String, Object>) u : Map.of(),
                str(stamped.get("method")), stamped);
    }

    private static String str(Object o) {
        return o == null ? null : o.toString();
    }
}
