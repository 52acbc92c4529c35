package io.hypha.rpc;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A Java function that remote peers can call: a method of a registered service, or a callback
 * passed in the arguments or the result of a call.
 *
 * <p>Parameters are declared by name so that keyword arguments bind as in Python
 * ({@code add(1, b=2)}, {@code add(a=1, b=2)}). The body runs on the client's event loop and must not
 * block; it returns the result directly or as a {@link io.vertx.core.Future}. A thrown exception or a
 * failed future becomes an error on the caller's side, carrying the exception's message.
 */
public final class RpcFunction {

    /** The code behind the function. */
    @FunctionalInterface
    public interface Body {
        Object call(Invocation invocation) throws Exception;
    }

    /** A declared parameter; {@code required} ones have no default. */
    public record Param(String name, String description, boolean required, Object defaultValue, String jsonType) {
    }

    private final String name;
    private final Body body;
    private final List<Param> params = new ArrayList<>();
    private String description;

    private RpcFunction(String name, Body body) {
        this.name = Objects.requireNonNull(name, "name");
        this.body = Objects.requireNonNull(body, "body");
    }

    public static RpcFunction of(String name, Body body) {
        return new RpcFunction(name, body);
    }

    /** A required parameter. */
    public RpcFunction param(String paramName) {
        return param(paramName, null, "string");
    }

    /** A required parameter with a description and a JSON schema type (string, number, integer, boolean, object, array). */
    public RpcFunction param(String paramName, String paramDescription, String jsonType) {
        params.add(new Param(paramName, paramDescription, true, null, jsonType));
        return this;
    }

    /** An optional parameter and its default. */
    public RpcFunction optionalParam(String paramName, Object defaultValue) {
        return optionalParam(paramName, defaultValue, null, jsonTypeOf(defaultValue));
    }

    public RpcFunction optionalParam(String paramName, Object defaultValue, String paramDescription, String jsonType) {
        params.add(new Param(paramName, paramDescription, false, defaultValue, jsonType));
        return this;
    }

    public RpcFunction description(String text) {
        this.description = text;
        return this;
    }

    public String name() {
        return name;
    }

    public String description() {
        return description;
    }

    public List<Param> params() {
        return Collections.unmodifiableList(params);
    }

    /**
     * The function's JSON schema as Python's {@code schema_function} makes it ({@code name},
     * {@code description}, {@code parameters}): sent as {@code _rschema} with the function and read
     * by Hypha's MCP adapter and other tool users.
     */
    public Map<String, Object> schema() {
        Map<String, Object> properties = new LinkedHashMap<>();
        List<String> required = new ArrayList<>();
        for (Param p : params) {
            Map<String, Object> prop = new LinkedHashMap<>();
            prop.put("type", p.jsonType() == null ? "string" : p.jsonType());
            if (p.description() != null) {
                prop.put("description", p.description());
            }
            if (!p.required() && p.defaultValue() != null) {
                prop.put("default", p.defaultValue());
            }
            properties.put(p.name(), prop);
            if (p.required()) {
                required.add(p.name());
            }
        }
        Map<String, Object> parameters = new LinkedHashMap<>();
        parameters.put("type", "object");
        parameters.put("properties", properties);
        parameters.put("required", required);
        Map<String, Object> function = new LinkedHashMap<>();
        function.put("name", name);
        function.put("description", description == null ? "" : description);
        function.put("parameters", parameters);
        return function;
    }

    Body body() {
        return body;
    }

    private static String jsonTypeOf(Object value) {
        if (value instanceof Boolean) {
            return "boolean";
        }
        if (value instanceof Integer || value instanceof Long) {
            return "integer";
        }
        if (value instanceof Number) {
            return "number";
        }
        if (value instanceof java.util.Map) {
            return "object";
        }
        if (value instanceof java.util.List) {
            return "array";
        }
        return "string";
    }
}
