package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;

import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Callers that try to turn the client against itself or others, send bytes meant to exhaust its
 * memory or stack, or use its large-message cache as storage: a Java client against the real
 * server, attacked by an anonymous Python client of another workspace, with a Python bystander
 * in the client's own workspace that must never hear from it.
 */
@Tag("hypha")
class HostileCallerInteropTest {

    static Vertx vertx;
    static HyphaTestServer server;
    static HyphaClient victim;
    static HyphaClient guarded;
    static PythonPeer bystander;
    static PythonPeer attacker;
    static final AtomicInteger touches = new AtomicInteger();
    static final AtomicInteger dangers = new AtomicInteger();

    /** Python helper, defined in every snippet that needs it: one frame, bytes exactly as given. */
    static final String RAW = """
            import msgpack
            async def raw(main, extra_bytes):
                await server.rpc._emit_message(msgpack.packb(main) + extra_bytes)
            """;

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        server = HyphaTestServer.shared();
        victim = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-victim-" + HyphaClient.newId(6))
                .setMaxCachedBytes(2_000_000).setMaxCachedBytesPerSender(1_000_000)
                .setMessageCacheIdleTimeout(Duration.ofSeconds(3))));
        Await.result(victim.registerService(ServiceDefinition.builder("open").visibility(Visibility.PUBLIC)
                .function(RpcFunction.of("call_back", inv -> inv.callbackArg("cb").call("hello")).param("cb"))
                .function(RpcFunction.of("echo", inv -> inv.arg("x")).param("x"))
                .function(RpcFunction.of("touch", inv -> touches.incrementAndGet()))
                .build()));
        Await.result(victim.registerService(ServiceDefinition.builder("admin").visibility(Visibility.PROTECTED)
                .function(RpcFunction.of("danger", inv -> dangers.incrementAndGet()))
                .build()));
        guarded = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-guarded-" + HyphaClient.newId(6))));
        Await.result(guarded.registerService(ServiceDefinition.builder("guarded-svc").visibility(Visibility.PROTECTED)
                .function(RpcFunction.of("echo", inv -> inv.arg("x")).param("x"))
                .build()));
        bystander = server.python(Map.of("token", server.userToken(), "client_id", "py-bystander-" + HyphaClient.newId(6)));
        bystander.exec("""
                state['rec'] = []
                await server.register_service({"id": "recorder", "config": {"visibility": "public"},
                                               "record": lambda *a, **k: state['rec'].append([list(a), k])})
                """);
        attacker = server.python(Map.of("client_id", "py-attacker-" + HyphaClient.newId(6)));
        assertThat(attacker.workspace()).isNotEqualTo(victim.workspace());
        attacker.exec("state['open'] = await server.get_service('%s:open')".formatted(victim.fullClientId()));
    }

    @AfterAll
    static void tearDown() {
        for (PythonPeer p : new PythonPeer[] {attacker, bystander}) {
            if (p != null) {
                p.close();
            }
        }
        for (HyphaClient c : new HyphaClient[] {victim, guarded}) {
            if (c != null) {
                Await.result(c.disconnect());
            }
        }
        vertx.close();
    }

    private static String function(String target, String method) {
        return "{'_rtype': 'method', '_rtarget': '%s', '_rmethod': '%s', '_rpromise': '*'}".formatted(target, method);
    }

    private static String recorder() {
        return function(bystander.fullClientId(), "services.recorder.record");
    }

    /**
     * What the bystander has received from anyone. The victim calls it once more itself first: its
     * frames reach the bystander in order, so anything it had sent before has arrived by then.
     */
    private static JsonArray bystanderRecordsAfterAMarker() {
        RemoteService recorder = Await.result(victim.getService(bystander.fullClientId() + ":recorder"));
        Await.result(recorder.call("record", "marker"));
        return (JsonArray) bystander.exec("return state['rec']");
    }

    private static void assertOnlyTheMarkerReachedTheBystander() {
        JsonArray records = bystanderRecordsAfterAMarker();
        assertThat(records).hasSize(1);
        assertThat(records.getJsonArray(0).getJsonArray(0).getList()).containsExactly("marker");
        bystander.exec("state['rec'].clear()");
    }

    @Test
    void aCallbackNamingAnotherClientOrTheCalleeItselfFailsTheCallNamingTheFieldAndIsNeverCalled() {
        JsonObject out = (JsonObject) attacker.exec("""
                out = {}
                for name, cb in [("own_protected", %s), ("bystander", %s)]:
                    try:
                        out[name] = await state['open'].call_back(cb)
                    except Exception as e:
                        out[name] = str(e)
                try:
                    out["kwarg"] = await state['open'].call_back(cb=%2$s)
                except Exception as e:
                    out["kwarg"] = str(e)
                out["own"] = await state['open'].call_back(lambda m: m + "!")
                return out
                """.formatted(function(victim.fullClientId(), "services.admin.danger"), recorder()));
        assertThat(out.getString("own_protected")).contains("refused: args[0] is a function of another client");
        assertThat(out.getString("bystander")).contains("refused: args[0] is a function of another client");
        assertThat(out.getString("kwarg")).contains("refused: args[0].cb is a function of another client");
        // the caller's own functions still work
        assertThat(out.getString("own")).isEqualTo("hello!");
        assertThat(dangers).hasValue(0);
        assertOnlyTheMarkerReachedTheBystander();
    }

    @Test
    void aReplyChannelNamingAnotherClientDropsTheCallAndNothingReachesThatClient() {
        Object after = attacker.exec(RAW + """
                victim = "%s"
                promise = {"resolve": %s, "reject": %2$s, "heartbeat": %2$s, "interval": 0.2}
                # a public method: dropped, so it does not run either
                await raw({"type": "method", "to": victim, "method": "services.open.touch", "session": "evil1"},
                          msgpack.packb({"promise": promise}))
                # a protected method: its refusal must not go to the bystander either
                await raw({"type": "method", "to": victim, "method": "services.admin.danger", "session": "evil2"},
                          msgpack.packb({"promise": promise}))
                # a resolve that names the callee itself
                own = {"resolve": %s, "reject": %3$s}
                await raw({"type": "method", "to": victim, "method": "services.open.touch", "session": "evil3"},
                          msgpack.packb({"promise": own}))
                # the frames of one sender are handled in order: once this answers, the ones above were handled
                return await state['open'].echo("after")
                """.formatted(victim.fullClientId(), recorder(), function(victim.fullClientId(), "services.admin.danger")));
        assertThat(after).isEqualTo("after");
        assertThat(touches).hasValue(0);
        assertThat(dangers).hasValue(0);
        assertOnlyTheMarkerReachedTheBystander();
    }

    @Test
    void aSenderNamedInTheSecondSegmentIsIgnored() {
        // the server vouches only for the first segment; claiming to be the victim itself must not pass the protected check
        Object after = attacker.exec(RAW + """
                victim = "%s"
                await raw({"type": "method", "to": victim, "method": "services.admin.danger", "session": "spoof1"},
                          msgpack.packb({"from": victim, "ws": victim.split("/")[0], "promise": "*", "t": 5}))
                return await state['open'].echo("after")
                """.formatted(victim.fullClientId()));
        assertThat(after).isEqualTo("after");
        assertThat(dangers).hasValue(0);
    }

    @Test
    void hostileBytesAreDroppedAndTheClientKeepsServing() {
        JsonArray out = (JsonArray) attacker.exec(RAW + """
                main = {"type": "method", "to": "%s", "method": "services.open.touch", "session": "bytes1"}
                await raw(main, b"\\xdd\\x7f\\xff\\xff\\xff")                       # an array of 2^31-1 items
                await raw(main, b"\\xdf\\x7f\\xff\\xff\\xff")                       # a map of 2^31-1 entries
                await raw(main, b"\\xdb\\x7f\\xff\\xff\\xffA")                      # a string of 2 GiB
                await raw(main, b"\\x91" * 100000 + b"\\xc0")                       # 100 000 nested arrays
                await raw(main, b"\\xdd\\x00\\x0f\\x42\\x40" + b"\\x80" * 1000000)  # a million empty maps
                return [await state['open'].echo("still here"), await state['open'].echo(list(range(1000)))]
                """.formatted(victim.fullClientId()), Duration.ofSeconds(60));
        assertThat(out.getString(0)).isEqualTo("still here");
        assertThat(out.getJsonArray(1)).hasSize(1000);
        assertThat(touches).hasValue(0);
        // and it still calls out
        assertThat(Await.result(victim.ping(bystander.fullClientId()))).isEqualTo("pong");
    }

    @Test
    void largeMessagesAreRefusedFromClientsThatMayCallNoServiceOfTheirReceiver() {
        Object out = attacker.exec("""
                bi = await server.get_service("%s:built-in")
                try:
                    await bi["message_cache"]["create"]("k", False)
                    return "accepted"
                except Exception as e:
                    return str(e)
                """.formatted(guarded.fullClientId()));
        assertThat(out.toString()).contains("large messages are accepted only from clients that may call a service of");
        // its own workspace's clients still send it large arguments
        Object size = bystander.exec("""
                svc = await server.get_service("%s:guarded-svc")
                return len(await svc.echo(bytes(600_000)))
                """.formatted(guarded.fullClientId()), Duration.ofSeconds(60));
        assertThat(size).isEqualTo(600_000);
    }

    @Test
    void aSendersCachedChunksAreItsOwnAndTheCacheIsCappedPerSenderInAllAndExpires() {
        String fill = """
                bi = await server.get_service("%s:built-in")
                mc = bi["message_cache"]
                key = "%s"
                await mc["create"](key, False, True)
                stored = 0
                try:
                    for i in range(100):
                        await mc["set"](key, i, bytes(262144), False)
                        stored += 262144
                    return [stored, "accepted"]
                except Exception as e:
                    return [stored, str(e)]
                """;
        JsonArray first = (JsonArray) attacker.exec(fill.formatted(victim.fullClientId(), "fill"), Duration.ofSeconds(60));
        assertThat(first.getLong(0)).isLessThanOrEqualTo(1_000_000L).isGreaterThan(0L);
        assertThat(first.getString(1)).contains("too much data");

        // another sender sees none of the attacker's keys
        JsonObject other = (JsonObject) bystander.exec("""
                mc = (await server.get_service("%s:built-in"))["message_cache"]
                out = {}
                for name, call in [("append", lambda: mc["append"]("fill", b"x", False)), ("process", lambda: mc["process"]("fill", False)),
                                   ("remove", lambda: mc["remove"]("fill"))]:
                    try:
                        await call()
                        out[name] = "allowed"
                    except Exception as e:
                        out[name] = str(e)
                return out
                """.formatted(victim.fullClientId()));
        assertThat(other.getString("append")).contains("does not exist");
        assertThat(other.getString("process")).contains("does not exist");
        assertThat(other.getString("remove")).contains("does not exist");

        // a second sender fills its share; a third hits the total before its own share
        try (PythonPeer second = server.python(Map.of("client_id", "py-attacker2-" + HyphaClient.newId(6)));
             PythonPeer third = server.python(Map.of("client_id", "py-attacker3-" + HyphaClient.newId(6)))) {
            JsonArray two = (JsonArray) second.exec(fill.formatted(victim.fullClientId(), "fill"), Duration.ofSeconds(60));
            assertThat(two.getString(1)).contains("too much data");
            JsonArray three = (JsonArray) third.exec(fill.formatted(victim.fullClientId(), "fill"), Duration.ofSeconds(60));
            assertThat(three.getString(1)).contains("too much data");
            assertThat(first.getLong(0) + two.getLong(0) + three.getLong(0)).isLessThanOrEqualTo(2_000_000L);
            assertThat(three.getLong(0)).isLessThan(first.getLong(0));

            // the victim still serves meanwhile
            assertThat(attacker.exec("return await state['open'].echo('serving')")).isEqualTo("serving");

            // idle entries expire, after which the attacker's key is gone and senders have room again
            // (create without overwrite fails while the key exists, and does not keep it alive)
            Await.until("the idle chunks to expire", Duration.ofSeconds(30), () -> attacker.exec("""
                    mc = (await server.get_service("%s:built-in"))["message_cache"]
                    try:
                        await mc["create"]("fill", False, False)
                        await mc["remove"]("fill")
                        return True
                    except Exception as e:
                        return False
                    """.formatted(victim.fullClientId())).equals(Boolean.TRUE));
        }
        Object size = bystander.exec("""
                svc = await server.get_service("%s:open")
                return len(await svc.echo(bytes(600_000)))
                """.formatted(victim.fullClientId()), Duration.ofSeconds(60));
        assertThat(size).isEqualTo(600_000);
    }

    @Test
    void aLargeReplyComesBackFromTheTargetOfOurOwnCallEvenWhenItMayCallNothingOfOurs() {
        // guarded has only a protected service: the attacker's workspace may not call it, yet the
        // attacker's large reply to guarded's own call goes through guarded's cache
        attacker.exec("""
                async def slow_big(n):
                    await asyncio.sleep(0.5)
                    return bytes(n)
                await server.register_service({"id": "slow", "config": {"visibility": "public"}, "slow_big": slow_big})
                """);
        RemoteService slow = Await.result(guarded.getService(attacker.fullClientId() + ":slow"));
        Object big = Await.result(slow.call("slow_big", 700_000), Duration.ofSeconds(60));
        assertThat((byte[]) big).hasSize(700_000);
    }

    @Test
    void aFrameOverTheSizeLimitClosesTheLinkCleanlyAndTheClientComesBackServing() {
        HyphaClient small = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-small-" + HyphaClient.newId(6))
                .setMaxMessageBytes(100_000)));
        try {
            List<HyphaClient.ConnectionState> states = new java.util.concurrent.CopyOnWriteArrayList<>();
            small.connectionStateHandler(states::add);
            Await.result(small.registerService(ServiceDefinition.builder("small-svc").visibility(Visibility.PUBLIC)
                    .function(RpcFunction.of("echo", inv -> inv.arg("x")).param("x")).build()));
            attacker.exec(RAW + """
                    main = {"type": "method", "to": "%s", "method": "services.small-svc.echo", "session": "huge"}
                    await raw(main, msgpack.packb({"args": [bytes(200000)]}))
                    """.formatted(small.fullClientId()));
            Await.until("the link dropped and restored", Duration.ofSeconds(30),
                    () -> states.contains(HyphaClient.ConnectionState.RECONNECTING) && small.state() == HyphaClient.ConnectionState.CONNECTED);
            Object back = attacker.exec("""
                    svc = await server.get_service("%s:small-svc")
                    return await svc.echo("back")
                    """.formatted(small.fullClientId()), Duration.ofSeconds(30));
            assertThat(back).isEqualTo("back");
        } finally {
            Await.result(small.disconnect());
        }
    }

    @Test
    void aClientThatNeverCallsItselfAnswersNoCallFromItsOwnId() {
        AtomicInteger served = new AtomicInteger();
        HyphaClient lone = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-lone-" + HyphaClient.newId(6))
                .setServeOwnCalls(false).setMethodTimeout(Duration.ofSeconds(3))));
        try {
            Await.result(lone.registerService(ServiceDefinition.builder("lone-svc").visibility(Visibility.PUBLIC)
                    .function(RpcFunction.of("count", inv -> served.incrementAndGet())).build()));
            RemoteService own = Await.result(lone.getService(lone.fullClientId() + ":lone-svc"));
            assertThatThrownBy(() -> Await.result(own.call("count"))).isInstanceOf(HyphaException.Timeout.class);
            assertThat(served).hasValue(0);
            // others are served as usual
            assertThat(bystander.exec("return await (await server.get_service('%s:lone-svc')).count()".formatted(lone.fullClientId())))
                    .isEqualTo(1);
        } finally {
            Await.result(lone.disconnect());
        }
    }
}
