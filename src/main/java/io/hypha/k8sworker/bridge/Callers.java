package io.hypha.k8sworker.bridge;

import java.util.Map;
import java.util.function.Supplier;

import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.rpc.CallContext;
import io.hypha.rpc.HyphaClient;
import io.hypha.rpc.Invocation;

/**
 * Who a call is from, as the server stamped it, and what that caller may do: the one place the
 * worker's rules about admins, anonymous users, the worker's own user and operator secrets live.
 */
final class Callers {

    /** Where Hypha's app controller ({@code public/server-apps}) runs. */
    static final String APP_CONTROLLER_WORKSPACE = "public";

    private final WorkerConfig.Callers settings;
    /** The worker's own connection (null while it has none): its user and workspace. */
    private final Supplier<HyphaClient> own;

    Callers(WorkerConfig.Callers settings, Supplier<HyphaClient> own) {
        this.settings = settings;
        this.own = own;
    }

    /** The caller's identity, refused if missing, or from the public workspace without being an admin. */
    CallContext require(Invocation inv) {
        CallContext ctx = inv.context();
        if (ctx == null || ctx.workspace() == null) {
            throw new WorkerException(ErrorCode.FORBIDDEN, "the caller's identity is missing");
        }
        HyphaClient client = own.get();
        if (APP_CONTROLLER_WORKSPACE.equals(ctx.workspace()) && !isAdmin(ctx)
                && (client == null || !APP_CONTROLLER_WORKSPACE.equals(client.workspace()))) {
            // anyone may join the public workspace: from there, only the server's own services are served
            throw new WorkerException(ErrorCode.FORBIDDEN, "callers from the public workspace must be admins");
        }
        return ctx;
    }

    /** Admins (the server's root user, the app controller) may act on any workspace's sessions. */
    static boolean isAdmin(CallContext ctx) {
        return ctx.roles().contains("admin");
    }

    /** Hypha's app controller: an admin calling from the public workspace. */
    static boolean isAppController(CallContext ctx) {
        return isAdmin(ctx) && APP_CONTROLLER_WORKSPACE.equals(ctx.workspace());
    }

    /** Hypha's anonymous users: is_anonymous, the "anonymous" role, or no user id to count sessions by. */
    static boolean isAnonymous(CallContext ctx) {
        return ctx.isAnonymous() || ctx.roles().contains("anonymous") || ctx.userId() == null || ctx.userId().isBlank();
    }

    /** The session queries and commands of this caller: its workspace, and whether it may act on any. */
    static SessionRequest sessionRequest(CallContext ctx) {
        return SessionRequest.of(ctx.workspace(), isAdmin(ctx));
    }

    /**
     * The user a call is from, for per-user limits and lists: a token a user generates in Hypha
     * carries a new random id and the generating user as its {@code parent} (kept through every
     * generation), so counting by id alone would let each generated token start a fresh quota.
     */
    static String principal(CallContext ctx) {
        Object parent = ctx.user() == null ? null : ctx.user().get("parent");
        return parent instanceof String p && !p.isBlank() ? p : ctx.userId();
    }

    /**
     * The caller is the user the worker itself logged in as (or a token that user generated). User ids
     * are stamped by the server from the token's signature; a caller's workspace is not as sure (see
     * docs/reliability.md), so the worker's own workspace alone never makes a caller its operator.
     */
    boolean isOperator(CallContext ctx) {
        HyphaClient client = own.get();
        if (client == null || client.connectionInfo() == null || isAnonymous(ctx)) {
            return false;
        }
        Map<String, Object> user = client.connectionInfo().user();
        Object parent = user == null ? null : user.get("parent");
        String operator = parent instanceof String p && !p.isBlank() ? p : client.connectionInfo().userId();
        return operator != null && operator.equals(principal(ctx));
    }

    /**
     * May stop every session: an admin, or the worker's own user holding admin permission in the
     * worker's workspace. Any user can mint a token with admin scope on any workspace
     * (docs/reliability.md), so the workspace permission alone proves nothing, and a token the
     * operator handed out with less than admin permission must not do it either.
     */
    boolean mayShutDown(CallContext ctx) {
        HyphaClient client = own.get();
        return isAdmin(ctx) || client != null && isOperator(ctx) && "a".equals(ctx.permissionIn(client.workspace()));
    }

    /** May start a job type that runs with the operator's secrets. */
    boolean mayUseOperatorSecrets(CallContext ctx) {
        HyphaClient client = own.get();
        // a caller's workspace is only as sure as Hypha's token scopes (see docs/reliability.md): operators who do not rely
        // on it turn ownWorkspace off, leave allowedWorkspaces empty and list users, whose ids the server stamps
        return isAdmin(ctx) || isOperator(ctx)
                || settings.operatorSecretOwnWorkspace() && client != null && ctx.workspace().equals(client.workspace())
                || settings.operatorSecretWorkspaces().contains(ctx.workspace())
                || principal(ctx) != null && settings.operatorSecretUsers().contains(principal(ctx));
    }
}
