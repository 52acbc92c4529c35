package io.hypha.k8sworker.watcher;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.hypha.k8sworker.bus.Addresses;
import io.hypha.k8sworker.bus.BusClient;
import io.hypha.k8sworker.bus.PortPublication;
import io.hypha.k8sworker.bus.PortsOp;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.k8sworker.ports.WebPort;
import io.hypha.k8sworker.ports.WebPorts;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The service-watcher's side of web ports: from the sessions it sees, asks the ports publisher
 * (over {@link Addresses#PORTS}) to publish the ports of a session whose pod runs, and to withdraw
 * them when the session stops, ends or fails; and tells callers where the ports are served
 * ({@code get_session_info}'s {@code ports}, a progress message when a session's pod runs).
 */
public final class PortWatch {

    private static final Logger LOG = LoggerFactory.getLogger(PortWatch.class);

    private final Vertx vertx;
    private final BusClient bus;
    /** Sessions with ports: what was last asked for them (null pod address: withdrawn, or never published). */
    private final Map<String, Tracked> sessions = new HashMap<>();
    private final MessageConsumer<JsonObject> appsUrlConsumer;
    private final MessageConsumer<JsonObject> statusConsumer;
    private String appsUrl;

    private static final class Tracked {
        final List<WebPort> ports;
        final String workspace;
        String podIp;
        final Map<String, JsonObject> status = new HashMap<>();

        Tracked(List<WebPort> ports, String workspace) {
            this.ports = ports;
            this.workspace = workspace;
        }
    }

    public PortWatch(Vertx vertx) {
        this.vertx = vertx;
        this.bus = new BusClient(vertx);
        this.appsUrlConsumer = vertx.eventBus().consumer(Addresses.PORTS_APPS_URL, m -> {
            appsUrl = m.body().getString("appsUrl");
            // a (re)connected bridge: it may not have heard of the running sessions yet (it started after the watcher)
            sessions.forEach((id, t) -> {
                if (t.podIp != null) {
                    send(PortsOp.PUBLISH, id, t);
                }
            });
        });
        this.statusConsumer = vertx.eventBus().consumer(Addresses.PORTS_STATUS, m -> {
            Tracked t = sessions.get(m.body().getString("sessionId"));
            if (t != null) {
                t.status.put(m.body().getString("serviceId"), m.body());
            }
        });
    }

    public void close() {
        appsUrlConsumer.unregister();
        statusConsumer.unregister();
    }

    /**
     * A session's Job or pod changed: publish its ports once its pod runs (and again if the pod's
     * address changes), withdraw them when it stops, ends or fails. {@code status} is the session's
     * status in the worker contract's words.
     */
    public void sessionChanged(Job job, Pod latestPod, String status) {
        Map<String, String> annotations = job.getMetadata().getAnnotations();
        List<WebPort> ports = WebPorts.fromAnnotation(annotations == null ? null : annotations.get(SessionMeta.PORTS));
        String sessionId = annotations == null ? null : annotations.get(SessionMeta.SESSION_ID);
        if (ports.isEmpty() || sessionId == null) {
            return;
        }
        Tracked t = sessions.computeIfAbsent(sessionId, k -> new Tracked(ports, annotations.get(SessionMeta.WORKSPACE)));
        String podIp = latestPod == null || latestPod.getStatus() == null || latestPod.getMetadata().getDeletionTimestamp() != null
                ? null : latestPod.getStatus().getPodIP();
        if ("running".equals(status) && podIp != null) {
            if (!podIp.equals(t.podIp)) {
                boolean first = t.podIp == null;
                t.podIp = podIp;
                send(PortsOp.PUBLISH, sessionId, t);
                if (first) {
                    for (WebPort p : ports) {
                        String where = appsUrl == null ? "as service " + p.serviceId() : "at " + appsUrl + p.serviceId() + "/";
                        vertx.eventBus().publish(Addresses.sessionProgress(sessionId), new JsonObject().put("type", "info")
                                .put("message", "Port " + p.port() + " (" + p.name() + ") will be served " + where + " once it answers"));
                    }
                }
            }
        } else if (!"starting".equals(status) && t.podIp != null) {
            t.podIp = null;
            send(PortsOp.WITHDRAW, sessionId, t);
        }
    }

    /** The session's Job is gone. */
    public void sessionGone(String sessionId) {
        Tracked t = sessionId == null ? null : sessions.remove(sessionId);
        if (t != null && t.podIp != null) {
            send(PortsOp.WITHDRAW, sessionId, t);
        }
    }

    /** Adds {@code ports} (each with its URL and whether it is published) to a session's info. */
    public JsonObject describe(JsonObject info) {
        Tracked t = sessions.get(info.getString("session_id"));
        if (t == null) {
            return info;
        }
        JsonArray out = new JsonArray();
        for (WebPort p : t.ports) {
            JsonObject status = t.status.get(p.serviceId());
            JsonObject port = p.toJson().put("url", appsUrl == null ? null : appsUrl + p.serviceId() + "/")
                    .put("published", status != null && status.getBoolean("published", false));
            if (status != null && status.getString("error") != null) {
                port.put("error", status.getString("error"));
            }
            out.add(port);
        }
        return info.put("ports", out);
    }

    private void send(PortsOp op, String sessionId, Tracked t) {
        JsonArray ports = new JsonArray();
        t.ports.forEach(p -> ports.add(p.toJson()));
        if (op == PortsOp.WITHDRAW) {
            t.status.clear();
        }
        bus.<JsonObject>request(Addresses.PORTS, op, new PortPublication(sessionId, t.workspace, t.podIp, ports).toJson())
                .onSuccess(reply -> {
                    if (reply != null && reply.getString("appsUrl") != null) {
                        appsUrl = reply.getString("appsUrl");
                    }
                })
                // no bridge yet: it announces itself on PORTS_APPS_URL when connected, and is sent the running sessions then
                .onFailure(err -> LOG.debug("session {}: ports {} not sent yet: {}", sessionId, op.wireName(), err.getMessage()));
    }
}
