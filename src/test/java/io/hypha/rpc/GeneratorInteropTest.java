package io.hypha.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Generators both ways through the real server (interop plan item 28 and its mirror): Python
 * iterates Java's generators, sync and async Python generators are pulled from Java, early
 * closes reach the producer, and errors, timeouts, disconnects and idle consumers end both sides.
 * Only the client a generator was sent to may pull from it or close it.
 */
@Tag("hypha")
class GeneratorInteropTest {

    static Vertx vertx;
    static HyphaTestServer server;
    static HyphaClient producer;
    static HyphaClient impatient;
    static HyphaClient consumer;
    static PythonPeer py;
    static PythonPeer attacker;
    static final Map<String, AtomicInteger> produced = new ConcurrentHashMap<>();
    static final Set<String> closed = ConcurrentHashMap.newKeySet();

    static final String PY_GENERATORS = """
            state['made'] = {}
            state['closed'] = set()
            def numbers(tag, n, fail_at=-1):
                try:
                    for i in range(n):
                        if i == fail_at:
                            raise ValueError("python broke at %d" % i)
                        state['made'][tag] = state['made'].get(tag, 0) + 1
                        yield i
                finally:
                    state['closed'].add(tag)
            async def anumbers(tag, n):
                try:
                    for i in range(n):
                        await asyncio.sleep(0)
                        state['made'][tag] = state['made'].get(tag, 0) + 1
                        yield {"i": i, "sq": i * i}
                finally:
                    state['closed'].add(tag)
            def stuck(tag):
                try:
                    yield 0
                    time.sleep(6)
                    yield 1
                finally:
                    state['closed'].add(tag)
            await server.register_service({"id": "py-gen", "config": {"visibility": "protected"},
                "numbers": numbers, "anumbers": anumbers, "stuck": stuck})
            """;

    /** A Java producer that counts what it made, so a test can see it made nothing ahead of the consumer. */
    static RpcGenerator counting(String tag, long n, long failAt) {
        AtomicInteger made = produced.computeIfAbsent(tag, k -> new AtomicInteger());
        return new RpcGenerator() {
            long next;

            @Override
            public Future<Object> next() {
                if (next == failAt) {
                    return Future.failedFuture(new IllegalStateException("java broke at " + next));
                }
                if (next >= n) {
                    return Future.succeededFuture(END);
                }
                made.incrementAndGet();
                return Future.succeededFuture(next++);
            }

            @Override
            public Future<Void> close() {
                closed.add(tag);
                return Future.succeededFuture();
            }
        };
    }

    static final Set<String> filesClosed = ConcurrentHashMap.newKeySet();

    static ServiceDefinition javaGenerators() {
        return ServiceDefinition.builder("java-gen").visibility(Visibility.PROTECTED)
                .function(RpcFunction.of("letters", inv -> RpcGenerator.of(List.of("a", "b", "c").iterator())))
                .function(RpcFunction.of("file", inv -> {
                    String path = inv.stringArg("path");
                    // a Vert.x ReadStream with back-pressure: read 10,000 bytes at a time, as asked
                    return vertx.fileSystem().open(path, new io.vertx.core.file.OpenOptions().setRead(true))
                            .map(f -> RpcGenerator.of(f.setReadBufferSize(10_000), () -> {
                                filesClosed.add(path);
                                f.close();
                            }));
                }).param("path"))
                .function(RpcFunction.of("count", inv -> counting(inv.stringArg("tag"), inv.longArg("n"),
                        inv.arg("fail_at") instanceof Number f ? f.longValue() : -1))
                        .param("tag").param("n").optionalParam("fail_at", -1))
                .build();
    }

    @BeforeAll
    static void setUp() {
        vertx = Vertx.vertx();
        server = HyphaTestServer.shared();
        producer = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-gen-" + HyphaClient.newId(6))));
        Await.result(producer.registerService(javaGenerators()));
        impatient = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-gen-idle-" + HyphaClient.newId(6))
                .setGeneratorIdleTimeout(Duration.ofSeconds(2))));
        Await.result(impatient.registerService(javaGenerators()));
        consumer = Await.result(HyphaClient.connect(vertx, new ConnectOptions()
                .setServerUrl(server.url()).setToken(server.userToken()).setClientId("java-gen-use-" + HyphaClient.newId(6))
                .setMethodTimeout(Duration.ofSeconds(2))));
        py = server.python(Map.of("token", server.userToken(), "client_id", "py-gen-" + HyphaClient.newId(6)));
        py.exec(PY_GENERATORS);
        py.exec("state['java'] = await server.get_service('%s:java-gen')".formatted(producer.fullClientId()));
        attacker = server.python(Map.of("client_id", "py-gen-attacker-" + HyphaClient.newId(6)));
    }

    @AfterAll
    static void tearDown() {
        for (PythonPeer p : new PythonPeer[] {py, attacker}) {
            if (p != null) {
                p.close();
            }
        }
        for (HyphaClient c : new HyphaClient[] {producer, impatient, consumer}) {
            if (c != null) {
                Await.result(c.disconnect());
            }
        }
        vertx.close();
    }

    private static int made(String tag) {
        return produced.getOrDefault(tag, new AtomicInteger()).get();
    }

    private static RemoteService pyGen() {
        return Await.result(consumer.getService(py.fullClientId() + ":py-gen"));
    }

    // ------------------------------------------------------------ Python consumes Java's generators

    @Test
    void pythonIteratesAJavaGeneratorToItsEndAndTheProducerLetsGoOfIt() {
        Object items = py.exec("""
                gen = await state['java'].count('full', 5)
                return [x async for x in gen]
                """);
        assertThat(((JsonArray) items).getList()).containsExactly(0, 1, 2, 3, 4);
        assertThat(made("full")).isEqualTo(5);
        // it ended by itself: nothing to close, and nothing of it is held any more
        assertThat(closed).doesNotContain("full");
        Await.until("the finished generator is released", Duration.ofSeconds(10), () -> !servesTag(producer));
    }

    /** Whether the client still serves a generator; the producer serves none between tests. */
    private static boolean servesTag(HyphaClient client) {
        return Await.result(Future.succeededFuture().compose(v -> Future.succeededFuture(client.servedGeneratorCount()))) > 0;
    }

    @Test
    void aJavaGeneratorMakesEachItemOnlyWhenAskedAndPythonsEarlyCloseReachesIt() {
        Object first = py.exec("""
                gen = await state['java'].count('early', 1000)
                state['early'] = gen
                return [await gen.__anext__() for _ in range(3)]
                """);
        assertThat(((JsonArray) first).getList()).containsExactly(0, 1, 2);
        assertThat(made("early")).isEqualTo(3);
        assertThat(closed).doesNotContain("early");
        py.exec("await state.pop('early').aclose()");
        Await.until("the producer is closed", Duration.ofSeconds(10), () -> closed.contains("early"));
        assertThat(made("early")).isEqualTo(3);
    }

    @Test
    void aJavaGeneratorThatFailsMidStreamRaisesInPythonAfterTheItemsBefore() {
        JsonObject out = (JsonObject) py.exec("""
                got = []
                try:
                    async for x in await state['java'].count('fails', 10, fail_at=2):
                        got.append(x)
                    return {"got": got, "error": None}
                except Exception as e:
                    return {"got": got, "error": str(e)}
                """);
        assertThat(out.getJsonArray("got").getList()).containsExactly(0, 1);
        assertThat(out.getString("error")).contains("java broke at 2");
        Await.until("the failed generator is closed", Duration.ofSeconds(10), () -> closed.contains("fails"));
    }

    @Test
    void aConsumerThatDisconnectsMidStreamHasItsJavaGeneratorClosed() {
        PythonPeer leaving = server.python(Map.of("token", server.userToken(), "client_id", "py-gen-leaving-" + HyphaClient.newId(6)));
        try {
            Object first = leaving.exec("""
                    state['gen'] = await (await server.get_service('%s:java-gen')).count('gone', 1000)
                    return await state['gen'].__anext__()
                    """.formatted(producer.fullClientId()));
            assertThat(first).isEqualTo(0);
        } finally {
            leaving.kill();
        }
        Await.until("the generator of a vanished consumer is closed", Duration.ofSeconds(60), () -> closed.contains("gone"));
        assertThat(made("gone")).isEqualTo(1);
    }

    @Test
    void aConsumerThatStopsAskingHasItsJavaGeneratorClosedAfterTheIdleTimeout() {
        JsonObject out = (JsonObject) py.exec("""
                gen = await (await server.get_service('%s:java-gen')).count('idle', 1000)
                first = await gen.__anext__()
                await asyncio.sleep(5)
                try:
                    second = await gen.__anext__()
                    return {"first": first, "second": second}
                except Exception as e:
                    return {"first": first, "error": str(e)}
                """.formatted(impatient.fullClientId()));
        assertThat(out.getInteger("first")).isEqualTo(0);
        assertThat(out.getString("error")).isNotNull();
        assertThat(closed).contains("idle");
        assertThat(made("idle")).isEqualTo(1);
    }

    @Test
    void onlyTheClientAGeneratorWasSentToMayPullFromItOrCloseIt() {
        RemoteService svc = Await.result(consumer.getService(producer.fullClientId() + ":java-gen"));
        RemoteGenerator gen = (RemoteGenerator) Await.result(svc.call("count", "guarded", 100));
        assertThat(Await.result(gen.next())).isEqualTo(0L);
        Map<String, Object> encoded = gen.encoded();
        JsonObject out = (JsonObject) attacker.exec("""
                out = {}
                for name, path in [("next", "%s"), ("close", "%s")]:
                    fn = server.rpc._generate_remote_method({"_rtarget": "%s", "_rmethod": path, "_rpromise": "*"})
                    try:
                        out[name] = await fn()
                    except Exception as e:
                        out[name] = "refused: " + str(e)
                return out
                """.formatted(encoded.get("_rmethod"), encoded.get("_rclose_method"), encoded.get("_rtarget")));
        assertThat(out.getString("next")).startsWith("refused: ").contains("Access denied");
        assertThat(out.getString("close")).startsWith("refused: ").contains("Access denied");
        assertThat(made("guarded")).isEqualTo(1);
        assertThat(closed).doesNotContain("guarded");
        // the rightful consumer goes on where it was
        assertThat(Await.result(gen.next())).isEqualTo(1L);
        Await.result(gen.close());
        Await.until("the producer is closed", Duration.ofSeconds(10), () -> closed.contains("guarded"));
    }

    @Test
    void pythonIteratesJavaGeneratorsMadeFromAnIteratorAndFromAReadStream() throws Exception {
        assertThat(py.exec("return [x async for x in await state['java'].letters()]"))
                .isEqualTo(new JsonArray(List.of("a", "b", "c")));

        byte[] content = new byte[45_000];
        new java.util.Random(5).nextBytes(content);
        java.nio.file.Path file = java.nio.file.Files.createTempFile("generator-", ".bin");
        java.nio.file.Files.write(file, content);
        try {
            JsonObject whole = (JsonObject) py.exec("""
                    parts = [p async for p in await state['java'].file('%s')]
                    return {"count": len(parts), "data": b"".join(parts)}
                    """.formatted(file));
            assertThat(whole.getInteger("count")).isEqualTo(5);
            assertThat(PythonPeer.bytes(whole.getJsonObject("data"))).isEqualTo(content);
            assertThat(filesClosed).doesNotContain(file.toString());

            // abandoned after the first piece: the file is closed
            Object first = py.exec("""
                    gen = await state['java'].file('%s')
                    first = await gen.__anext__()
                    await gen.aclose()
                    return len(first)
                    """.formatted(file));
            assertThat(first).isEqualTo(10_000);
            Await.until("the file to be closed", Duration.ofSeconds(10), () -> filesClosed.contains(file.toString()));
        } finally {
            java.nio.file.Files.deleteIfExists(file);
        }
    }

    // ------------------------------------------------------------ Java consumes Python's generators

    @Test
    void javaPullsASyncAndAnAsyncPythonGeneratorToTheirEnd() {
        RemoteService svc = pyGen();
        RemoteGenerator sync = (RemoteGenerator) Await.result(svc.call("numbers", "sync-all", 4));
        assertThat(Await.result(sync.collect())).containsExactly(0L, 1L, 2L, 3L);
        assertThat(Await.result(sync.next())).isSameAs(RpcGenerator.END);
        RemoteGenerator async = (RemoteGenerator) Await.result(svc.call("anumbers", "async-all", 3));
        assertThat(Await.result(async.collect())).containsExactly(
                Map.of("i", 0L, "sq", 0L), Map.of("i", 1L, "sq", 1L), Map.of("i", 2L, "sq", 4L));
        assertThat(py.exec("return [state['made'].get('sync-all'), state['made'].get('async-all')]"))
                .isEqualTo(new JsonArray(List.of(4, 3)));
    }

    @Test
    void javaClosingEarlyClosesThePythonGeneratorWhichMadeOnlyWhatWasAsked() {
        RemoteService svc = pyGen();
        for (String kind : List.of("numbers", "anumbers")) {
            String tag = "early-" + kind;
            RemoteGenerator gen = (RemoteGenerator) Await.result(svc.call(kind, tag, 1000));
            Await.result(gen.next());
            Await.result(gen.next());
            assertThat(py.exec("return [state['made'].get('%1$s'), '%1$s' in state['closed']]".formatted(tag)))
                    .isEqualTo(new JsonArray(List.of(2, false)));
            Await.result(gen.close());
            assertThat(py.exec("return [state['made'].get('%1$s'), '%1$s' in state['closed']]".formatted(tag)))
                    .isEqualTo(new JsonArray(List.of(2, true)));
            assertThat(Await.result(gen.next())).isSameAs(RpcGenerator.END);
        }
    }

    @Test
    void aPythonGeneratorThatRaisesFailsJavasNextWithItsMessageAndEndsTheStream() {
        RemoteGenerator gen = (RemoteGenerator) Await.result(pyGen().call("numbers", "py-fails", 10, 1));
        assertThat(Await.result(gen.next())).isEqualTo(0L);
        Throwable err = Await.failure(gen.next(), Duration.ofSeconds(20));
        assertThat(err).isInstanceOf(RemoteException.class).hasMessageContaining("python broke at 1");
        assertThat(Await.result(gen.next())).isSameAs(RpcGenerator.END);
    }

    @Test
    void aPythonGeneratorThatFallsSilentTimesOutInJavaAndIsClosed() {
        RemoteGenerator gen = (RemoteGenerator) Await.result(pyGen().call("stuck", "py-stuck"));
        assertThat(Await.result(gen.next())).isEqualTo(0L);
        Throwable err = Await.failure(gen.next(), Duration.ofSeconds(20));
        assertThat(err).isInstanceOf(HyphaException.Timeout.class);
        assertThat(Await.result(gen.next())).isSameAs(RpcGenerator.END);
        // once Python's loop is free again it receives the close Java sent
        Await.until("the silent generator is closed", Duration.ofSeconds(30),
                () -> Boolean.TRUE.equals(py.exec("return 'py-stuck' in state['closed']")));
    }

    @Test
    void aPythonProducerThatDisconnectsMidStreamFailsJavasNextInsteadOfHanging() {
        PythonPeer leaving = server.python(Map.of("token", server.userToken(), "client_id", "py-gen-producer-" + HyphaClient.newId(6)));
        RemoteGenerator gen;
        try {
            leaving.exec("""
                    async def forever():
                        i = 0
                        while True:
                            await asyncio.sleep(0.2)
                            yield i
                            i += 1
                    await server.register_service({"id": "forever", "config": {"visibility": "protected"}, "run": forever})
                    """);
            RemoteService svc = Await.result(consumer.getService(leaving.fullClientId() + ":forever"));
            gen = (RemoteGenerator) Await.result(svc.call("run"));
            assertThat(Await.result(gen.next())).isEqualTo(0L);
        } finally {
            leaving.kill();
        }
        Throwable err = Await.failure(gen.next(), Duration.ofSeconds(30));
        assertThat(err).isInstanceOfAny(RemoteException.class, HyphaException.class);
        assertThat(Await.result(gen.next())).isSameAs(RpcGenerator.END);
    }
}
