package io.hypha.k8sworker.bus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;

/**
 * The bus contract in process: what a requester ({@link BusClient}) sees of each way a handler
 * ({@link OperationHandlers}) can answer, fail, or not be there.
 */
@ExtendWith(VertxExtension.class)
class OperationHandlersTest {

    private static final String ADDRESS = "test.requests";
    /** All a requester learns of a bug in a handler: not its class, message or trace. */
    private static final String INTERNAL_ERROR = "internal error (the worker's log has the details)";

    enum TestOp implements Operation {
        ECHO("echo"), THROW("throw"), FAIL("fail"), REFUSE("refuse"), HANG("hang"), UNHANDLED("unhandled");

        private final String wireName;

        TestOp(String wireName) {
            this.wireName = wireName;
        }

        @Override
        public String wireName() {
            return wireName;
        }
    }

    private BusClient client;

    @BeforeEach
    void setUp(Vertx vertx) {
        client = new BusClient(vertx);
    }

    private static Future<Void> handlers(Vertx vertx) {
        return vertx.eventBus().consumer(ADDRESS, new OperationHandlers()
                .on(TestOp.ECHO, body -> Future.succeededFuture(body.copy().put("echoed", true)))
                .on(TestOp.THROW, body -> {
                    throw new IllegalStateException("Peer p1 lost its index at io.hypha.Internal.method(Internal.java:42)");
                })
                .on(TestOp.FAIL, body -> Future.failedFuture(new NullPointerException("Session not found in the cache")))
                .on(TestOp.REFUSE, body -> Future.failedFuture(new WorkerException(ErrorCode.FORBIDDEN, "manifest.image: not allowed")))
                .on(TestOp.HANG, body -> Promise.promise().future())).completion();
    }

    /** The failure the requester sees, checked by {@code check}. */
    private void expectFailure(VertxTestContext ctx, Future<?> request, java.util.function.Consumer<WorkerException> check) {
        request.onComplete(ctx.failing(err -> ctx.verify(() -> {
            assertThat(err).isInstanceOf(WorkerException.class);
            check.accept((WorkerException) err);
            ctx.completeNow();
        })));
    }

    @Test
    void theHandlersResultIsTheReply(Vertx vertx, VertxTestContext ctx) {
        handlers(vertx).compose(x -> client.<JsonObject>request(ADDRESS, TestOp.ECHO, new JsonObject().put("a", 1)))
                .onComplete(ctx.succeeding(reply -> ctx.verify(() -> {
                    assertThat(reply).isEqualTo(new JsonObject().put("a", 1).put("echoed", true));
                    ctx.completeNow();
                })));
    }

    @Test
    void anUnknownOperationIsAnInvalidRequestNamingIt(Vertx vertx, VertxTestContext ctx) {
        expectFailure(ctx, handlers(vertx).compose(x -> client.request(ADDRESS, TestOp.UNHANDLED, new JsonObject())), e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.INVALID_REQUEST);
            assertThat(e.getMessage()).isEqualTo("unknown operation unhandled");
        });
    }

    @Test
    void aThrownRuntimeExceptionIsAnInternalErrorWithItsDetailsHidden(Vertx vertx, VertxTestContext ctx) {
        expectFailure(ctx, handlers(vertx).compose(x -> client.request(ADDRESS, TestOp.THROW, new JsonObject())), e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.INTERNAL);
            assertThat(e.getMessage()).isEqualTo(INTERNAL_ERROR);
            // an answer for the caller, not a bug report: no stack trace travels with it
            assertThat(e.getStackTrace()).isEmpty();
            assertThat(e.getCause()).isNull();
        });
    }

    @Test
    void aFailedFutureIsAnInternalErrorWithItsDetailsHidden(Vertx vertx, VertxTestContext ctx) {
        expectFailure(ctx, handlers(vertx).compose(x -> client.request(ADDRESS, TestOp.FAIL, new JsonObject())), e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.INTERNAL);
            assertThat(e.getMessage()).isEqualTo(INTERNAL_ERROR);
            assertThat(e.getStackTrace()).isEmpty();
        });
    }

    @Test
    void aWorkerExceptionReachesTheRequesterAsItWas(Vertx vertx, VertxTestContext ctx) {
        expectFailure(ctx, handlers(vertx).compose(x -> client.request(ADDRESS, TestOp.REFUSE, new JsonObject())), e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.FORBIDDEN);
            assertThat(e.getMessage()).isEqualTo("manifest.image: not allowed");
        });
    }

    @Test
    void noHandlerDeployedIsUnavailable(Vertx vertx, VertxTestContext ctx) {
        expectFailure(ctx, client.request("nobody.listens.here", TestOp.ECHO, new JsonObject()), e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.UNAVAILABLE);
            assertThat(e.getMessage()).isEqualTo("the handler for this request is not deployed");
        });
    }

    @Test
    void aHandlerThatNeverAnswersIsATimeout(Vertx vertx, VertxTestContext ctx) {
        expectFailure(ctx, handlers(vertx).compose(x -> client.request(ADDRESS, TestOp.HANG, new JsonObject(), 200)), e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.TIMEOUT);
            assertThat(e.getMessage()).isEqualTo("the worker did not answer in time");
        });
    }

    @Test
    void anOperationHasOneHandler() {
        OperationHandlers handlers = new OperationHandlers().on(TestOp.ECHO, body -> Future.succeededFuture());
        assertThatThrownBy(() -> handlers.on(TestOp.ECHO, body -> Future.succeededFuture()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("echo");
    }
}
