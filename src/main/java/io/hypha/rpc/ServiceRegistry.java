package io.hypha.rpc;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.vertx.core.Future;

/**
 * The services this client provides: registered with the workspace manager, registered again after
 * every reconnection, and described to callers by our built-in service.
 */
final class ServiceRegistry {

    private final HyphaClient client;
    private final WireValues codec;
    private final MessageCache messageCache;
    private final Map<String, ServiceDefinition> services = new LinkedHashMap<>();

    ServiceRegistry(HyphaClient client, WireValues codec, MessageCache messageCache) {
        this.client = client;
        this.codec = codec;
        this.messageCache = messageCache;
    }

    ServiceDefinition get(String id) {
        return services.get(id);
    }

    Iterable<ServiceDefinition> all() {
        return services.values();
    }

    /**
     * Registers every service again, the built-in one first, as a reconnected client must: the
     * server forgot them with the old connection. Completes with how many were registered.
     */
    Future<Integer> registerAll() {
        services.put("built-in", builtInService());
        List<ServiceDefinition> toRegister = new ArrayList<>(services.values());
        Future<Void> chain = Future.succeededFuture();
        for (ServiceDefinition svc : toRegister) {
            chain = chain.compose(v -> client.managerCall("register_service", List.of(registrationInfo(svc)), Map.of()).mapEmpty());
        }
        return chain.map(v -> toRegister.size());
    }

    /** Registers (or replaces) a service; completes with its full id {@code workspace/client_id:service_id}. */
    Future<String> register(ServiceDefinition service) {
        if ("built-in".equals(service.id())) {
            return Future.failedFuture(new IllegalArgumentException("the built-in service is managed by the client"));
        }
        ServiceDefinition previous = services.put(service.id(), service);
        return client.managerCall("register_service", List.of(registrationInfo(service)), Map.of())
                .map(v -> client.fullClientId() + ":" + service.id())
                .onFailure(err -> {
                    if (previous == null) {
                        services.remove(service.id());
                    } else {
                        services.put(service.id(), previous);
                    }
                });
    }

    /** Unregisters one of our services, by short or full id. */
    Future<Void> unregister(String serviceId) {
        String shortId = serviceId.contains(":") ? serviceId.substring(serviceId.lastIndexOf(':') + 1) : serviceId;
        if (!services.containsKey(shortId) || "built-in".equals(shortId)) {
            return Future.failedFuture(new IllegalArgumentException("no service of ours with id " + serviceId));
        }
        return client.managerCall("unregister_service", List.of(client.fullClientId() + ":" + shortId), Map.of())
                .onSuccess(v -> services.remove(shortId))
                .mapEmpty();
    }

    private Map<String, Object> registrationInfo(ServiceDefinition svc) {
        Map<String, Object> config = svc.config();
        config.put("workspace", client.workspace());
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("id", client.fullClientId() + ":" + svc.id());
        d.put("name", svc.name());
        d.put("type", svc.type());
        d.put("description", svc.description());
        d.put("docs", svc.docs());
        d.put("app_id", "*");
        d.put("config", config);
        Map<String, Object> schema = new LinkedHashMap<>(svc.schema());
        svc.properties().forEach((k, v) -> schema.putIfAbsent(k, Map.of("type", v instanceof Number ? "number" : "string")));
        d.put("service_schema", schema);
        return d;
    }

    /** The descriptor our built-in {@code get_service} returns: config plus encoded members. */
    private Map<String, Object> serviceDescriptor(ServiceDefinition svc) {
        Map<String, Object> config = svc.config();
        config.put("workspace", client.workspace());
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("id", svc.id());
        d.put("name", svc.name());
        d.put("type", svc.type());
        d.put("description", svc.description());
        d.put("docs", svc.docs());
        d.put("config", config);
        d.putAll(svc.properties());
        d.putAll(encodeMembers(svc.id(), "", svc.members()));
        return d;
    }

    private Map<String, Object> encodeMembers(String serviceId, String prefix, Map<String, Object> members) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : members.entrySet()) {
            String path = prefix + e.getKey();
            Object v = e.getValue();
            if (v instanceof RpcFunction fn) {
                out.put(e.getKey(), codec.servedFunction("services." + serviceId + "." + path, fn));
            } else if (v instanceof Map<?, ?> nested) {
                @SuppressWarnings("unchecked")
                Map<String, Object> m = (Map<String, Object>) nested;
                out.put(e.getKey(), encodeMembers(serviceId, path + ".", m));
            } else {
                out.put(e.getKey(), codec.encode(v, null));
            }
        }
        return out;
    }

    private ServiceDefinition builtInService() {
        Map<String, Object> cache = messageCache.functions();
        return ServiceDefinition.builder("built-in")
                .name("Builtin services for " + client.fullClientId())
                .type("built-in")
                .visibility(Visibility.PUBLIC)
                .requireContext(true)
                .config("api_version", 3)
                .function(RpcFunction.of("ping", inv -> "pong").param("msg"))
                .function(RpcFunction.of("get_service", this::builtInGetService).param("service_id"))
                .member("message_cache", cache)
                .build();
    }

    /** Whether a client may call a service of ours: protected services only from their workspaces and the manager. */
    boolean mayCall(ServiceDefinition svc, String from, String remoteWs) {
        return svc.visibility() != Visibility.PROTECTED || remoteWs.equals(client.workspace())
                || svc.authorizedWorkspaces().contains(remoteWs) || from.equals("*/" + client.managerId());
    }

    private Object builtInGetService(Invocation inv) {
        String id = inv.stringArg("service_id");
        CallContext ctx = inv.context();
        if (ctx != null && ctx.to() != null && !ctx.to().endsWith("/" + client.clientId())) {
            throw new IllegalArgumentException("Services can only be accessed locally");
        }
        ServiceDefinition svc = services.get(id);
        if (svc == null) {
            throw new IllegalArgumentException("Service not found: " + id);
        }
        String callerWs = ctx == null ? null : ctx.workspace();
        if (svc.visibility() == Visibility.PROTECTED && !client.workspace().equals(callerWs)
                && !svc.authorizedWorkspaces().contains(callerWs)) {
            throw new SecurityException("Permission denied for getting protected service: " + id
                    + ", workspace mismatch: " + client.workspace() + " != " + callerWs);
        }
        return serviceDescriptor(svc);
    }
}
