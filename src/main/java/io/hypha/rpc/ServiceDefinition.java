package io.hypha.rpc;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A service to register: its id, description, access rules and members. Members are
 * {@link RpcFunction}s, nested maps of members, or plain values that callers receive as they are.
 */
public final class ServiceDefinition {

    private static final Pattern SERVICE_ID = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9_\\-]*");

    private final String id;
    private final String name;
    private final String type;
    private final String description;
    private final String docs;
    private final Visibility visibility;
    private final boolean requireContextAll;
    private final Set<String> requireContextFor;
    private final List<String> authorizedWorkspaces;
    private final Map<String, Object> extraConfig;
    private final Map<String, Object> properties;
    private final Map<String, Object> members;

    private ServiceDefinition(Builder b) {
        this.id = b.id;
        this.name = b.name == null ? b.id : b.name;
        this.type = b.type;
        this.description = b.description;
        this.docs = b.docs;
        this.visibility = b.visibility;
        this.requireContextAll = b.requireContextAll;
        this.requireContextFor = Collections.unmodifiableSet(new LinkedHashSet<>(b.requireContextFor));
        this.authorizedWorkspaces = List.copyOf(b.authorizedWorkspaces);
        this.extraConfig = Collections.unmodifiableMap(new LinkedHashMap<>(b.extraConfig));
        this.properties = Collections.unmodifiableMap(new LinkedHashMap<>(b.properties));
        this.members = Collections.unmodifiableMap(new LinkedHashMap<>(b.members));
    }

    public static Builder builder(String id) {
        return new Builder(id);
    }

    public String id() {
        return id;
    }

    public String name() {
        return name;
    }

    public String type() {
        return type;
    }

    public String description() {
        return description;
    }

    public String docs() {
        return docs;
    }

    public Visibility visibility() {
        return visibility;
    }

    public List<String> authorizedWorkspaces() {
        return authorizedWorkspaces;
    }

    public Map<String, Object> members() {
        return members;
    }

    public Map<String, Object> properties() {
        return properties;
    }

    /** Whether calls of the member at this dotted path receive the caller's context. */
    public boolean requiresContext(String memberPath) {
        return requireContextAll || requireContextFor.contains(memberPath);
    }

    /** The {@code config} map sent to the workspace manager and returned to callers. */
    public Map<String, Object> config() {
        Map<String, Object> config = new LinkedHashMap<>(extraConfig);
        config.put("visibility", visibility.wireName());
        config.put("require_context", requireContextAll ? Boolean.TRUE
                : requireContextFor.isEmpty() ? Boolean.FALSE : new ArrayList<>(requireContextFor));
        if (!authorizedWorkspaces.isEmpty()) {
            config.put("authorized_workspaces", authorizedWorkspaces);
        }
        return config;
    }

    /** The member (function, nested map or value) at a dotted path, or null. */
    public Object member(String dottedPath) {
        Object current = members;
        for (String part : dottedPath.split("\\.")) {
            if (!(current instanceof Map<?, ?> map)) {
                return null;
            }
            current = map.get(part);
        }
        return current;
    }

    /** JSON-schema-like description of the functions, for {@code list_services} and tool use. */
    public Map<String, Object> schema() {
        return schemaOf(members);
    }

    private static Map<String, Object> schemaOf(Map<String, Object> level) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : level.entrySet()) {
            Object v = e.getValue();
            if (v instanceof RpcFunction f) {
                out.put(e.getKey(), Map.of("type", "function", "function", f.schema()));
            } else if (v instanceof Map<?, ?> nested) {
                @SuppressWarnings("unchecked")
                Map<String, Object> m = (Map<String, Object>) nested;
                out.put(e.getKey(), schemaOf(m));
            } else if (v instanceof Number) {
                out.put(e.getKey(), Map.of("type", "number"));
            } else if (v instanceof Boolean) {
                out.put(e.getKey(), Map.of("type", "boolean"));
            } else if (v == null) {
                out.put(e.getKey(), Map.of("type", "null"));
            } else {
                out.put(e.getKey(), Map.of("type", "string"));
            }
        }
        return out;
    }

    public static final class Builder {
        private final String id;
        private String name;
        private String type = "generic";
        private String description;
        private String docs;
        private Visibility visibility = Visibility.PROTECTED;
        private boolean requireContextAll;
        private final Set<String> requireContextFor = new LinkedHashSet<>();
        private final List<String> authorizedWorkspaces = new ArrayList<>();
        private final Map<String, Object> extraConfig = new LinkedHashMap<>();
        private final Map<String, Object> properties = new LinkedHashMap<>();
        private final Map<String, Object> members = new LinkedHashMap<>();

        private Builder(String id) {
            Objects.requireNonNull(id, "id");
            // '.' separates method paths, '/', ':' and '@' separate the parts of a full service id
            if (!SERVICE_ID.matcher(id).matches() || id.startsWith("_rintf_")) {
                throw new IllegalArgumentException("service id must match [A-Za-z0-9_-]+ and not start with _rintf_: " + id);
            }
            this.id = id;
        }

        public Builder name(String value) {
            this.name = value;
            return this;
        }

        public Builder type(String value) {
            this.type = Objects.requireNonNull(value);
            return this;
        }

        /** At most 1024 characters: the workspace manager refuses longer ones. */
        public Builder description(String value) {
            if (value != null && value.length() > 1024) {
                throw new IllegalArgumentException("description is longer than 1024 characters");
            }
            this.description = value;
            return this;
        }

        public Builder docs(String value) {
            this.docs = value;
            return this;
        }

        public Builder visibility(Visibility value) {
            this.visibility = Objects.requireNonNull(value);
            return this;
        }

        /** Every function of the service receives the caller's context. */
        public Builder requireContext(boolean value) {
            this.requireContextAll = value;
            return this;
        }

        /** Only these functions (dotted member paths) receive the caller's context. */
        public Builder requireContextFor(Collection<String> memberPaths) {
            this.requireContextFor.addAll(memberPaths);
            return this;
        }

        /** Other workspaces allowed to call a protected service. */
        public Builder authorizedWorkspaces(Collection<String> workspaces) {
            this.authorizedWorkspaces.addAll(workspaces);
            return this;
        }

        /** Any other config key (e.g. {@code singleton}, {@code flags}); kept and returned by {@code get_service}. */
        public Builder config(String key, Object value) {
            this.extraConfig.put(key, value);
            return this;
        }

        /** A top-level descriptor field besides the standard ones (e.g. {@code supported_types}). */
        public Builder property(String key, Object value) {
            this.properties.put(key, value);
            return this;
        }

        public Builder function(RpcFunction function) {
            return member(function.name(), function);
        }

        /** A member: an {@link RpcFunction}, a nested map of members, or a plain value. Keys must not contain '.'. */
        public Builder member(String key, Object value) {
            if (key.contains(".") || key.startsWith("_")) {
                throw new IllegalArgumentException("member names must not contain '.' or start with '_': " + key);
            }
            this.members.put(key, value);
            return this;
        }

        public ServiceDefinition build() {
            return new ServiceDefinition(this);
        }
    }
}
