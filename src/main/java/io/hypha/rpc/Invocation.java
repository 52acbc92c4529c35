package io.hypha.rpc;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/** One call of an {@link RpcFunction}: its positional and keyword arguments and the caller's context. */
public final class Invocation {

    private final RpcFunction function;
    private final List<Object> args;
    private final Map<String, Object> kwargs;
    private final CallContext context;

    Invocation(RpcFunction function, List<Object> args, Map<String, Object> kwargs, CallContext context) {
        this.function = function;
        this.args = Collections.unmodifiableList(args);
        this.kwargs = Collections.unmodifiableMap(kwargs);
        this.context = context;
    }

    /** Positional arguments as sent. */
    public List<Object> args() {
        return args;
    }

    /** Keyword arguments as sent. */
    public Map<String, Object> kwargs() {
        return kwargs;
    }

    /** The caller's identity, stamped by the server; null unless the service requires context. */
    public CallContext context() {
        return context;
    }

    /** The value bound to a declared parameter: positional first, then keyword, then its default. */
    public Object arg(String name) {
        List<RpcFunction.Param> params = function.params();
        for (int i = 0; i < params.size(); i++) {
            RpcFunction.Param p = params.get(i);
            if (!p.name().equals(name)) {
                continue;
            }
            if (i < args.size()) {
                return args.get(i);
            }
            if (kwargs.containsKey(name)) {
                return kwargs.get(name);
            }
            if (p.required()) {
                throw new IllegalArgumentException(function.name() + "() missing required argument: '" + name + "'");
            }
            return p.defaultValue();
        }
        throw new IllegalStateException(function.name() + "() declares no parameter '" + name + "'");
    }

    public String stringArg(String name) {
        Object v = arg(name);
        if (v == null || v instanceof String) {
            return (String) v;
        }
        throw wrongType(name, "a string", v);
    }

    public long longArg(String name) {
        Object v = arg(name);
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
            return n.longValue();
        }
        throw wrongType(name, "an integer", v);
    }

    public double doubleArg(String name) {
        Object v = arg(name);
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw wrongType(name, "a number", v);
    }

    public RemoteMethod callbackArg(String name) {
        Object v = arg(name);
        if (v instanceof RemoteMethod m) {
            return m;
        }
        throw wrongType(name, "a function", v);
    }

    private IllegalArgumentException wrongType(String name, String expected, Object actual) {
        String got = actual == null ? "None" : actual.getClass().getSimpleName();
        return new IllegalArgumentException(function.name() + "(): argument '" + name + "' must be " + expected + ", got " + got);
    }
}
