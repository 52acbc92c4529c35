package io.hypha.rpc;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

/** The service the protocol's interop plan calls {@code java-svc}. */
final class JavaTestService {

    /** The last callback passed to call_back, kept to show it dies with its call. */
    volatile RemoteMethod storedCallback;

    static Map<String, Object> allTypes() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("none", null);
        m.put("true", true);
        m.put("false", false);
        m.put("zero", 0);
        m.put("int", 42L);
        m.put("min_long", Long.MIN_VALUE);
        m.put("max_uint64", BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE));
        m.put("float", 1.5);
        m.put("whole_float", 1.0);
        m.put("nan", Double.NaN);
        m.put("str", "héllo 🌍");
        m.put("bytes", new byte[] {0, 1, 2, (byte) 255});
        m.put("list", List.of(1L, "two", 3.0));
        m.put("map", Map.of("nested", Map.of("k", "v")));
        return m;
    }

    ServiceDefinition definition(Vertx vertx, String id, Visibility visibility) {
        return ServiceDefinition.builder(id)
                .name("Java test service")
                .description("The Java side of the interop tests")
                .visibility(visibility)
                .requireContextFor(List.of("ctx_echo"))
                .function(RpcFunction.of("echo", inv -> inv.arg("x")).param("x").description("Returns its argument."))
                .function(RpcFunction.of("add", inv -> {
                    Object a = inv.arg("a");
                    Object b = inv.arg("b");
                    return ((Number) a).longValue() + ((Number) b).longValue();
                }).param("a", "first", "integer").optionalParam("b", 0L).description("a + b"))
                .function(RpcFunction.of("types", inv -> allTypes()))
                .function(RpcFunction.of("raise_error", inv -> {
                    throw new IllegalStateException(inv.stringArg("msg"));
                }).param("msg"))
                .function(RpcFunction.of("sleep", inv -> {
                    Promise<Object> done = Promise.promise();
                    double seconds = inv.doubleArg("seconds");
                    vertx.setTimer(Math.max(1, (long) (seconds * 1000)), t -> done.complete(inv.arg("value")));
                    return done.future();
                }).param("seconds", null, "number").optionalParam("value", null))
                .function(RpcFunction.of("call_back", inv -> {
                    long n = inv.longArg("n");
                    RemoteMethod cb = inv.callbackArg("cb");
                    storedCallback = cb;
                    Future<List<Object>> chain = Future.succeededFuture(new ArrayList<>());
                    for (long i = 0; i < n; i++) {
                        long index = i;
                        chain = chain.compose(list -> cb.call(index).map(r -> {
                            list.add(r);
                            return list;
                        }));
                    }
                    return chain;
                }).param("n", null, "integer").param("cb"))
                .function(RpcFunction.of("ctx_echo", inv -> inv.context()))
                .function(RpcFunction.of("big", inv -> {
                    byte[] data = new byte[(int) inv.longArg("n")];
                    for (int i = 0; i < data.length; i++) {
                        data[i] = (byte) (i % 251);
                    }
                    return data;
                }).param("n", null, "integer"))
                .function(RpcFunction.of("size", inv -> {
                    Object blob = inv.arg("blob");
                    if (blob instanceof byte[] b) {
                        return (long) b.length;
                    }
                    if (blob instanceof NdArray nd) {
                        return Map.of("dtype", nd.dtype(), "shape", nd.shape(), "bytes", (long) nd.data().length);
                    }
                    throw new IllegalArgumentException("size() takes bytes or an array");
                }).param("blob"))
                .function(RpcFunction.of("load", inv -> 1L))
                .build();
    }
}
