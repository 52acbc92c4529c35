package io.hypha.rpc;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;

/**
 * Frames from the server: calls of our services, interface objects and callbacks, replies to our
 * calls, and events. Who may call what is settled here, before anything the caller sent is decoded.
 */
final class IncomingCalls {

    private static final Logger LOG = LoggerFactory.getLogger(HyphaClient.class);

    private final HyphaClient client;
    private final Vertx vertx;
    private final ConnectOptions options;
    private final WireValues codec;
    private final CallSessions calls;
    private final ServedObjects served;

    /** How to answer an incoming call. */
    private record Replier(RemoteMethod resolve, RemoteMethod reject, RemoteMethod heartbeat, double intervalSeconds) {
    }

    IncomingCalls(HyphaClient client, Vertx vertx, ConnectOptions options, WireValues codec, CallSessions calls, ServedObjects served) {
        this.client = client;
        this.vertx = vertx;
        this.options = options;
        this.codec = codec;
        this.calls = calls;
        this.served = served;
    }

    void handleFrame(Buffer buffer) {
        MsgpackCodec.Frame frame;
        try {
            frame = MsgpackCodec.unpackFrame(buffer, options.getMaxMessageBytes());
        } catch (RuntimeException | StackOverflowError | OutOfMemoryError e) {
            LOG.warn("dropping a frame of {} bytes that does not decode: {}", buffer.length(), e.toString());
            return;
        }
        try {
            dispatch(frame);
        } catch (RuntimeException | StackOverflowError | OutOfMemoryError e) {
            // one peer's frame must not take the client, or the process, down with it
            LOG.warn("dropping a frame whose handling failed: {}", e.toString());
        }
    }

    void dispatch(MsgpackCodec.Frame frame) {
        Map<String, Object> message = frame.merged();
        Object type = message.get("type");
        try {
            if ("method".equals(type)) {
                handleMethod(message, frame.main());
            } else if (type != null) {
                dispatchEvent(type.toString(), message);
            }
        } catch (RuntimeException e) {
            LOG.warn("failed to handle a {} message: {}", type, e.toString(), e);
        }
    }

    private void dispatchEvent(String type, Map<String, Object> message) {
        if ("peer_not_found".equals(type) && message.get("session") instanceof String sid) {
            calls.peerNotFound(sid, message.getOrDefault("error", "target is not connected"));
        }
        client.events.dispatch(type, message);
    }

    @SuppressWarnings("unchecked")
    private void handleMethod(Map<String, Object> message, Map<String, Object> firstSegment) {
        // the server stamps who sent a frame into its first segment; the second one is the sender's own word
        String from = str(firstSegment.get("from"));
        String path = str(message.get("method"));
        if (from == null || path == null) {
            LOG.warn("dropping a method message without from/method");
            return;
        }
        if (from.equals(client.fullClientId()) && !options.isServeOwnCalls()) {
            // this client never calls itself: such a frame is a function of ours turned against us
            LOG.warn("dropping a call of {} that comes from this client itself", path);
            return;
        }
        String remoteWs = from.contains("/") ? from.substring(0, from.indexOf('/')) : client.workspace();
        String to = str(firstSegment.get("to"));
        to = to == null ? client.fullClientId() : (to.contains("/") ? to : remoteWs + "/" + to);
        Map<String, Object> ctx = new LinkedHashMap<>(firstSegment);
        ctx.put("connection_type", "websocket");
        ctx.put("to", to);
        String callerSession = str(message.get("session"));

        String methodName = from + ":" + path;
        int dot = path.indexOf('.');
        String head = dot < 0 ? path : path.substring(0, dot);
        String rest = dot < 0 ? "" : path.substring(dot + 1);

        // who may call what is settled before anything the caller sent is turned into a function
        RuntimeException refusal = null;
        RpcFunction target = null;
        ServiceDefinition svc = null;
        String memberPath = null;
        CallSession session = null;
        ServedObjects.ServedInterface intf = null;
        boolean isReply = false;
        if (!to.startsWith(client.workspace() + "/")) {
            refusal = new SecurityException("Workspace mismatch: " + to + " is not in " + client.workspace());
        } else if ("services".equals(head)) {
            int next = rest.indexOf('.');
            String serviceId = next < 0 ? rest : rest.substring(0, next);
            memberPath = next < 0 ? "" : rest.substring(next + 1);
            svc = client.services.get(serviceId);
            intf = svc == null && serviceId.startsWith("_rintf_") ? served.interfaceById(serviceId) : null;
            Object member = intf != null ? intf.functions().get(memberPath)
                    : svc == null || memberPath.isEmpty() ? null : svc.member(memberPath);
            if (!(member instanceof RpcFunction fn)) {
                refusal = new IllegalArgumentException("Method not found: " + methodName + " at " + client.clientId());
            } else if (intf != null && !from.equals(intf.allowedCaller())) {
                LOG.warn("refusing {} from {}: the interface was sent to {}", path, from, intf.allowedCaller());
                refusal = new SecurityException("Permission denied for interface method " + path
                        + ": it was sent to another client");
            } else if (intf == null && !client.services.mayCall(svc, from, remoteWs)) {
                refusal = new SecurityException("Permission denied for invoking protected method " + methodName
                        + ", workspace mismatch: " + client.workspace() + " != " + remoteWs);
            } else {
                target = fn;
            }
        } else {
            session = calls.get(head);
            isReply = "resolve".equals(rest) || "reject".equals(rest) || "heartbeat".equals(rest);
            if (session == null) {
                if (isReply) {
                    // late or duplicate replies to a finished call are expected and ignored
                    return;
                }
                refusal = new IllegalStateException("Session not found: " + methodName);
            } else if (!from.equals(HyphaClient.qualify(session.targetId, remoteWs))) {
                LOG.warn("refusing {} from {}: session {} belongs to {}", rest, from, head, session.targetId);
                refusal = new SecurityException("Access denied for method call (" + methodName + ") from " + from
                        + " to target " + session.targetId);
            } else if (!isReply) {
                target = session.callbacks.get(rest);
                if (target == null) {
                    refusal = new IllegalStateException("Method expired or not found: " + methodName);
                }
            }
        }

        Replier replier;
        try {
            replier = replierFor(message, from, remoteWs, callerSession);
        } catch (RuntimeException e) {
            // the reply channel names someone else: answering it would make us call them on the caller's behalf
            LOG.warn("dropping a call of {} from {}: {}", path, from, e.getMessage());
            return;
        }
        if (refusal != null) {
            reply(replier, null, refusal);
            return;
        }
        if (svc != null) {
            invoke(target, message, svc.requiresContext(memberPath) ? ctx : null, replier, from, remoteWs, callerSession);
            return;
        }
        if (intf != null) {
            invoke(target, message, null, replier, from, remoteWs, callerSession);
            return;
        }
        if (isReply) {
            calls.handleReply(session, rest, message, remoteWs);
            return;
        }
        session.lastActivityNanos = System.nanoTime();
        invoke(target, message, null, replier, from, remoteWs, callerSession);
    }


    @SuppressWarnings("unchecked")
    private Replier replierFor(Map<String, Object> message, String from, String remoteWs, String callerSession) {
        Object promise = message.get("promise");
        if (promise == null) {
            return null;
        }
        if ("*".equals(promise)) {
            if (callerSession == null) {
                throw new IllegalArgumentException("promise without session");
            }
            double interval = message.get("t") instanceof Number n ? n.doubleValue() : 0;
            return new Replier(replyMethod(from, callerSession, "resolve"), replyMethod(from, callerSession, "reject"),
                    replyMethod(from, callerSession, "heartbeat"), interval);
        }
        if (!(promise instanceof Map<?, ?>)) {
            throw new IllegalArgumentException("malformed promise");
        }
        Map<String, Object> p;
        try {
            p = (Map<String, Object>) codec.decode(promise, callerSession, remoteWs, from);
        } catch (WireValues.ForeignFunctionException f) {
            throw f.within("promise");
        }
        if (!(p.get("resolve") instanceof RemoteMethod resolve) || !(p.get("reject") instanceof RemoteMethod reject)) {
            throw new IllegalArgumentException("promise without resolve and reject");
        }
        RemoteMethod heartbeat = p.get("heartbeat") instanceof RemoteMethod h ? h : null;
        double interval = p.get("interval") instanceof Number n ? n.doubleValue() : 0;
        return new Replier(resolve, reject, heartbeat, interval);
    }

    private RemoteMethod replyMethod(String caller, String callerSession, String kind) {
        return new RemoteMethod(client, MethodRef.unanswered(caller, callerSession + "." + kind), callerSession);
    }

    @SuppressWarnings("unchecked")
    private void invoke(RpcFunction fn, Map<String, Object> message, Map<String, Object> ctx, Replier replier,
                        String from, String remoteWs, String callerSession) {
        long heartbeatTimer = -1;
        if (replier != null && replier.heartbeat() != null && replier.intervalSeconds() > 0 && options.isHeartbeats()) {
            RemoteMethod hb = replier.heartbeat();
            heartbeatOnce(hb);
            heartbeatTimer = vertx.setPeriodic(Math.max(100, (long) (replier.intervalSeconds() * 1000)), t -> heartbeatOnce(hb));
        }
        long timerToCancel = heartbeatTimer;
        Future<Object> result;
        try {
            List<Object> decoded = message.get("args") instanceof List<?> l
                    ? (List<Object>) codec.decodeArgs(l, callerSession, remoteWs, from) : new ArrayList<>();
            CallFrame.Arguments args = CallFrame.Arguments.split(decoded, message.get("with_kwargs"));
            CallContext callContext = ctx == null ? null : CallFrame.context(ctx);
            Object r = fn.body().call(new Invocation(fn, args.positional(), args.keywords(), callContext));
            result = r instanceof Future<?> f ? (Future<Object>) f : Future.succeededFuture(r);
        } catch (WireValues.ForeignFunctionException e) {
            LOG.warn("refusing a call of {} from {}: {} names another client", fn.name(), from, e.field);
            result = Future.failedFuture(new SecurityException(e.getMessage()));
        } catch (Exception | StackOverflowError e) {
            result = Future.failedFuture(e);
        }
        result.onComplete(ar -> {
            if (timerToCancel >= 0) {
                vertx.cancelTimer(timerToCancel);
            }
            if (ar.failed() && LOG.isDebugEnabled()) {
                LOG.debug("{} failed", fn.name(), ar.cause());
            }
            reply(replier, ar.result(), ar.failed() ? ar.cause() : null);
        });
    }

    private void heartbeatOnce(RemoteMethod heartbeat) {
        heartbeat.call().onFailure(err -> LOG.debug("heartbeat not sent: {}", err.getMessage()));
    }

    private void reply(Replier replier, Object value, Throwable error) {
        if (replier == null) {
            if (error != null) {
                LOG.warn("call without a reply channel failed: {}", error.getMessage());
            }
            return;
        }
        Future<Object> sent = error == null ? replier.resolve().call(value) : replier.reject().call(error);
        sent.onFailure(err -> LOG.debug("reply not sent: {}", err.getMessage()));
    }


    private static String str(Object o) {
        return o == null ? null : o.toString();
    }
}
