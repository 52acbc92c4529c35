package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/** Python calls Java (interop plan items 8 to 19), through the real server. */
@Tag("hypha")
class JavaCalleeInteropTest {

    static Vertx vertx;
    static HyphaTestServer server;
    static HyphaClient java;
    static JavaTestService service = new JavaTestService();
    static PythonPeer py;
    static String svcId;

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        server = HyphaTestServer.shared();
        java = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-callee-" + HyphaClient.newId(6))));
        svcId = Await.result(java.registerService(service.definition(vertx, "java-svc", Visibility.PROTECTED)));
        py = server.python(Map.of("token", server.userToken(), "client_id", "py-callee-" + HyphaClient.newId(6)));
    }

    @AfterAll
    static void tearDown() {
        if (py != null) {
            py.close();
        }
        if (java != null) {
            Await.result(java.disconnect());
        }
        vertx.close();
    }

    @Test
    void pythonGetsTheServiceThreeWaysWithNamesAndDocs() {
        String full = svcId;
        Object result = py.exec("""
                a = await server.get_service("%1$s")
                b = await server.get_service("java-svc")
                c = await server.rpc.get_remote_service("%1$s")
                services = await server.list_services({"workspace": "%2$s"})
                mine = [s for s in services if s["id"] == "%1$s"][0]
                return [a.echo.__name__, a.echo.__doc__, await a.echo(1), await b.echo(2), await c.echo(3),
                        c.add.__name__, mine["service_schema"]["add"]["function"]["parameters"]["required"], mine["name"]]
                """.formatted(full, java.workspace()));
        assertThat(((JsonArray) result).getList())
                .containsExactly("echo", "Returns its argument.", 1, 2, 3, "add", List.of("a"), "Java test service");
    }

    @Test
    void positionalValuesRoundTripWithTheirPythonTypes() {
        Object result = py.exec("""
                svc = await server.get_service("%s")
                values = [None, True, False, 0, -1, 2**31, 2**53 + 1, -2**63, 2**64 - 1, 1.5, 1.0, "", "héllo 🌍 ✓",
                          b"", bytes(range(256)) * 4, [1, [2, [3]]], {"a": {"b": [1, 2]}}, [], {},
                          {"k%%d" %% i: i for i in range(1000)}]
                problems = []
                for v in values:
                    back = await svc.echo(v)
                    # maps come back as hypha-rpc's ObjectProxy, a dict look-alike
                    if back != v or (type(back) is not type(v) and not isinstance(v, dict)):
                        problems.append(repr(v)[:50] + " -> " + repr(back)[:50])
                nan = await svc.echo(float("nan"))
                if not (isinstance(nan, float) and math.isnan(nan)):
                    problems.append("nan -> " + repr(nan))
                return problems
                """.formatted(svcId));
        assertThat(((JsonArray) result).getList()).isEmpty();
    }

    @Test
    void javaValuesArriveAsTheDocumentedPythonTypes() {
        Object result = py.exec("""
                svc = await server.get_service("%s")
                t = await svc.types()
                return {k: type(v).__name__ for k, v in t.items()} | {
                    "max_uint64_ok": t["max_uint64"] == 2**64 - 1, "min_long_ok": t["min_long"] == -2**63,
                    "nan_ok": math.isnan(t["nan"]), "bytes_ok": t["bytes"] == bytes([0, 1, 2, 255]),
                    "str_ok": t["str"] == "héllo 🌍"}
                """.formatted(svcId));
        JsonObject types = (JsonObject) result;
        assertThat(types.getString("none")).isEqualTo("NoneType");
        assertThat(types.getString("true")).isEqualTo("bool");
        assertThat(types.getString("int")).isEqualTo("int");
        assertThat(types.getString("whole_float")).isEqualTo("float");
        assertThat(types.getString("bytes")).isEqualTo("bytes");
        assertThat(types.getString("list")).isEqualTo("list");
        assertThat(types.getString("map")).isIn("dict", "ObjectProxy");
        assertThat(types.getBoolean("max_uint64_ok")).isTrue();
        assertThat(types.getBoolean("min_long_ok")).isTrue();
        assertThat(types.getBoolean("nan_ok")).isTrue();
        assertThat(types.getBoolean("bytes_ok")).isTrue();
        assertThat(types.getBoolean("str_ok")).isTrue();
    }

    @Test
    void keywordArgumentsBindByName() {
        Object result = py.exec("""
                svc = await server.get_service("%s")
                out = [await svc.add(1, b=2), await svc.add(a=1, b=2), await svc.add(1)]
                try:
                    await svc.add()
                    out.append("no error")
                except Exception as e:
                    out.append(type(e).__name__ + ": " + str(e))
                return out
                """.formatted(svcId));
        JsonArray out = (JsonArray) result;
        assertThat(out.getList().subList(0, 3)).containsExactly(3, 3, 1);
        assertThat(out.getString(3)).contains("missing required argument: 'a'");
    }

    @Test
    void callbacksPassedInAreCalledAndDieWithTheirCall() {
        Object result = py.exec("""
                svc = await server.get_service("%s")
                calls = []
                def cb(i):
                    calls.append(i)
                    return i * 10
                async def acb(i):
                    await asyncio.sleep(0.01)
                    return -i
                r1 = await svc.call_back(5, cb)
                r2 = await svc.call_back(3, acb)
                return [r1, r2, calls]
                """.formatted(svcId));
        assertThat(result).isEqualTo(new JsonArray("[[0,10,20,30,40],[0,-1,-2],[0,1,2,3,4]]"));
        Throwable late = Await.failure(service.storedCallback.call(99), Duration.ofSeconds(10));
        assertThat(late).isInstanceOf(RemoteException.class).hasMessageContaining("not found");
        assertThat(py.exec("return 'still alive'")).isEqualTo("still alive");
    }

    @Test
    void javaExceptionsBecomePythonExceptionsWithTheirMessage() {
        Object result = py.exec("""
                svc = await server.get_service("%s")
                out = []
                try:
                    await svc.raise_error("boom from java")
                except Exception as e:
                    out.append(type(e).__name__ + ": " + str(e))
                raw = server.rpc._generate_remote_method({"_rtarget": "%s", "_rmethod": "services.java-svc.no_such", "_rpromise": "*"})
                try:
                    await raw()
                except Exception as e:
                    out.append(str(e))
                return out
                """.formatted(svcId, java.fullClientId()));
        JsonArray out = (JsonArray) result;
        assertThat(out.getString(0)).contains("boom from java").contains("IllegalStateException");
        assertThat(out.getString(1)).contains("Method not found");
    }

    @Test
    void contextIsStampedByTheServerAndCannotBeForged() {
        Object result = py.exec("""
                svc = await server.get_service("%s")
                ctx = await svc.ctx_echo()
                forged = await svc.ctx_echo(context={"from": "evil/forger", "ws": "evil"})
                me = server.config["workspace"] + "/" + server.config["client_id"]
                return [ctx["from"] == me, ctx["ws"], ctx["to"], ctx["user"]["id"], forged["from"] == me, forged["ws"]]
                """.formatted(svcId));
        JsonArray out = (JsonArray) result;
        assertThat(out.getBoolean(0)).isTrue();
        assertThat(out.getString(1)).isEqualTo(java.workspace());
        assertThat(out.getString(2)).isEqualTo(java.fullClientId());
        assertThat(out.getString(3)).isEqualTo("k8s-worker-test");
        assertThat(out.getBoolean(4)).isTrue();
        assertThat(out.getString(5)).isEqualTo(java.workspace());
    }

    @Test
    void protectedServicesRefuseOtherWorkspacesAndPublicOnesServeThem() {
        String publicId = Await.result(java.registerService(service.definition(vertx, "java-public", Visibility.PUBLIC)));
        try (PythonPeer stranger = server.python(Map.of("client_id", "py-stranger-" + HyphaClient.newId(6)))) {
            assertThat(stranger.workspace()).isNotEqualTo(java.workspace());
            Object result = stranger.exec("""
                    out = []
                    try:
                        await server.get_service("%1$s")
                        out.append("got protected")
                    except Exception as e:
                        out.append(str(e))
                    pub = await server.get_service("%2$s")
                    out.append(await pub.echo("public ok"))
                    raw = server.rpc._generate_remote_method({"_rtarget": "%3$s", "_rmethod": "services.java-svc.echo", "_rpromise": "*"})
                    try:
                        out.append(await raw("sneaky"))
                    except Exception as e:
                        out.append(str(e))
                    return out
                    """.formatted(svcId, publicId, java.fullClientId()));
            JsonArray out = (JsonArray) result;
            assertThat(out.getString(0)).containsIgnoringCase("permission");
            assertThat(out.getString(1)).isEqualTo("public ok");
            assertThat(out.getString(2)).contains("Permission denied for invoking protected method");
        } finally {
            Await.result(java.unregisterService("java-public"));
        }
    }

    @Test
    void largeArgumentsAndResultsTravelInChunks() {
        Object result = py.exec("""
                svc = await server.get_service("%s")
                blob = bytes(range(256)) * (5_000_000 // 256)
                n = await svc.size(blob)
                arr = np.arange(1_000_000, dtype=np.float32).reshape(1000, 1000)
                info = await svc.size(arr)
                back = await svc.echo(arr)
                big = await svc.big(5_000_000)
                expected = bytes(i %% 251 for i in range(251))
                return [n, len(blob), info["dtype"], info["shape"], info["bytes"],
                        isinstance(back, np.ndarray) and back.dtype == np.float32 and back.shape == (1000, 1000) and bool((back == arr).all()),
                        type(big).__name__, len(big), big[:251] == expected and big[-10:] == bytes((4_999_990 + i) %% 251 for i in range(10))]
                """.formatted(svcId), Duration.ofSeconds(120));
        JsonArray out = (JsonArray) result;
        assertThat(out.getLong(0)).isEqualTo(out.getLong(1));
        assertThat(out.getString(2)).isEqualTo("float32");
        assertThat(out.getJsonArray(3).getList()).containsExactly(1000, 1000);
        assertThat(out.getLong(4)).isEqualTo(4_000_000L);
        assertThat(out.getBoolean(5)).isTrue();
        assertThat(out.getString(6)).isEqualTo("bytes");
        assertThat(out.getLong(7)).isEqualTo(5_000_000L);
        assertThat(out.getBoolean(8)).isTrue();
    }

    @Test
    void largeUploadsBeyondTheCacheCeilingAreRefusedAndLeaveTheClientWorking() {
        HyphaClient small = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setMaxCachedBytes(1_000_000)
                .setClientId("java-small-" + HyphaClient.newId(6))));
        try {
            String id = Await.result(small.registerService(service.definition(vertx, "java-svc", Visibility.PROTECTED)));
            JsonArray out = (JsonArray) py.exec("""
                    svc = await server.get_service("%s")
                    try:
                        await svc.size(bytes(5_000_000))
                        first = "accepted"
                    except Exception as e:
                        first = str(e)
                    return [first, await svc.size(bytes(700_000))]
                    """.formatted(id), Duration.ofSeconds(60));
            assertThat(out.getString(0)).contains("too much data");
            assertThat(out.getLong(1)).isEqualTo(700_000L);
        } finally {
            Await.result(small.disconnect());
        }
    }

    @Test
    void twoHundredConcurrentCallsComeBackMatched() {
        Object result = py.exec("""
                import random
                svc = await server.get_service("%s")
                async def one(i):
                    if i %% 2:
                        return await svc.sleep(random.random() * 0.5, {"i": i, "pad": "x" * i})
                    return await svc.echo({"i": i, "pad": "x" * i})
                results = await asyncio.gather(*[one(i) for i in range(200)])
                return [r["i"] == i and r["pad"] == "x" * i for i, r in enumerate(results)].count(True)
                """.formatted(svcId), Duration.ofSeconds(90));
        assertThat(result).isEqualTo(200);
    }

    @Test
    void longCallsSurviveTheCallersTimeoutThroughHeartbeats() {
        HyphaClient silent = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setHeartbeats(false)
                .setClientId("java-silent-" + HyphaClient.newId(6))));
        String silentId = Await.result(silent.registerService(service.definition(vertx, "java-svc", Visibility.PROTECTED)));
        try (PythonPeer impatient = server.python(Map.of("token", server.userToken(), "method_timeout", 3,
                "client_id", "py-impatient-" + HyphaClient.newId(6)))) {
            Object result = impatient.exec("""
                    svc = await server.get_service("%s")
                    start = time.monotonic()
                    value = await svc.sleep(10, "done")
                    took = time.monotonic() - start
                    quiet = await server.get_service("%s")
                    start = time.monotonic()
                    try:
                        await quiet.sleep(10, "too late")
                        outcome = "no timeout"
                    except Exception as e:
                        outcome = type(e).__name__ + ": " + str(e)
                    failed_after = time.monotonic() - start
                    await asyncio.sleep(8)
                    return [value, took, outcome, failed_after, await svc.echo("alive")]
                    """.formatted(svcId, silentId), Duration.ofSeconds(60));
            JsonArray out = (JsonArray) result;
            assertThat(out.getString(0)).isEqualTo("done");
            assertThat(out.getDouble(1)).isGreaterThanOrEqualTo(9.5);
            assertThat(out.getString(2)).contains("TimeoutError");
            assertThat(out.getDouble(3)).isBetween(2.5, 6.0);
            assertThat(out.getString(4)).isEqualTo("alive");
        } finally {
            Await.result(silent.disconnect());
        }
    }

    @Test
    void replacingTheServiceAnnouncesItAndOldProxiesKeepWorking() {
        String own = "java-replaced";
        String id = Await.result(java.registerService(service.definition(vertx, own, Visibility.PROTECTED)));
        try {
            py.exec("""
                    state["events"] = []
                    await server.subscribe(["service_added", "service_removed"])
                    def on_event(name):
                        def handler(event):
                            data = event.get("data", event)
                            state["events"].append([name, data.get("id")])
                        return handler
                    server.on("service_added", on_event("added"))
                    server.on("service_removed", on_event("removed"))
                    state["old"] = await server.get_service("%s")
                    """.formatted(id));
            Await.result(java.registerService(service.definition(vertx, own, Visibility.PROTECTED)));
            Await.until("Python to see both events", Duration.ofSeconds(15), () -> ((JsonArray) py.exec("""
                    return state["events"]
                    """)).stream().map(Object::toString).filter(e -> e.contains(id)).count() >= 2);
            Object result = py.exec("""
                    return [await state["old"].echo("old proxy"), [e for e in state["events"] if e[1] == "%s"]]
                    """.formatted(id));
            JsonArray out = (JsonArray) result;
            assertThat(out.getString(0)).isEqualTo("old proxy");
            assertThat(out.getJsonArray(1).stream().map(e -> ((JsonArray) e).getString(0)).toList())
                    .containsSubsequence("removed", "added");
        } finally {
            Await.result(java.unregisterService(own));
        }
    }

    @Test
    void unknownArgumentsOfTheWrongTypeGiveAClearError() {
        assertThatThrownBy(() -> py.exec("""
                svc = await server.get_service("%s")
                await svc.call_back(2, "not a function")
                """.formatted(svcId)))
                .hasMessageContaining("argument 'cb' must be a function");
    }
}
