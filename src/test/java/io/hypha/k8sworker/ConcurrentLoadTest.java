package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Many callers at once: concurrent starts from several workspaces, from the real Python client,
 * against a worker whose policy admits only some of them. Sizes come from system properties
 * ({@code load.workspaces}, {@code load.startsPerWorkspace}, {@code load.maxPerWorkspace},
 * {@code load.maxTotal}); by default 200 starts from 10 workspaces, at most 15 admitted in each and
 * 145 in all, so that both limits refuse some.
 */
@Tag("hypha")
@Tag("k8s")
class ConcurrentLoadTest {

    static final int WORKSPACES = Integer.getInteger("load.workspaces", 10);
    static final int STARTS_PER_WORKSPACE = Integer.getInteger("load.startsPerWorkspace", 20);
    static final int MAX_PER_WORKSPACE = Integer.getInteger("load.maxPerWorkspace", 15);
    static final int MAX_TOTAL = Integer.getInteger("load.maxTotal", WORKSPACES * MAX_PER_WORKSPACE - 5);

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static PythonPeer py;

    @BeforeAll
    static void setUp() {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        namespace = "load-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        worker = new WorkerProcess(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(),
                "HYPHA_K8S_NAMESPACE", namespace, "HYPHA_VISIBILITY", "public", "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_WORKSPACE", String.valueOf(MAX_PER_WORKSPACE),
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_TOTAL", String.valueOf(MAX_TOTAL),
                // one user per workspace here: the per-workspace limit is the one under test
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_USER", "0")).start();
        py = hypha.python(Map.of("token", hypha.userToken(), "client_id", "load-driver-" + Long.toString(System.nanoTime(), 36)));
    }

    @AfterAll
    static void tearDown() {
        if (py != null) {
            py.close();
        }
        if (worker != null) {
            worker.close();
        }
        if (kube != null && namespace != null) {
            kube.namespaces().withName(namespace).delete();
        }
    }

    /** A Python string literal (JSON's string syntax is Python's too). */
    private static String pythonString(String s) {
        String json = new JsonArray().add(s).encode();
        return json.substring(1, json.length() - 1);
    }

    @Test
    void concurrentStartsFromManyWorkspacesAllSucceedOrAreRefusedByPolicyAndLeaveNothingBehind() {
        String run = Long.toString(System.nanoTime(), 36);
        // one caller per workspace, each a user of its own workspace with a token signed like the server's own
        py.exec("""
                import os, time
                os.environ['HYPHA_JWT_SECRET'] = %s
                from hypha.core import UserInfo, UserPermission
                from hypha.core.auth import _generate_presigned_token, create_scope
                from hypha_rpc import connect_to_server

                def token(user):
                    ws = 'ws-user-' + user
                    info = UserInfo(id=user, is_anonymous=False, email=None, parent=None, roles=['user'], expires_at=None,
                                    scope=create_scope(workspaces={ws: UserPermission.admin}, current_workspace=ws))
                    return _generate_presigned_token(info, 3600)

                state['callers'] = []
                for i in range(%d):
                    c = await connect_to_server({'server_url': %s, 'token': token('load-%s-%%d' %% i), 'method_timeout': 120})
                    w = await c.get_service(%s)
                    state['callers'].append((c, w))
                """.formatted(pythonString(hypha.jwtSecret()), WORKSPACES, pythonString(hypha.url()), run,
                pythonString(hypha.userWorkspace() + "/k8s-worker")), Duration.ofSeconds(60));

        JsonObject outcome = (JsonObject) py.exec("""
                async def one(w, i):
                    t0 = time.monotonic()
                    try:
                        sid = await w.start({'manifest': {'image': 'python:long', 'command': ['sleep', '600']}, 'token': 'session-token-%%d' %% i})
                        return ['ok', sid, time.monotonic() - t0]
                    except Exception as e:
                        return ['refused', str(e), time.monotonic() - t0]

                t0 = time.monotonic()
                results = await asyncio.gather(*[one(w, i) for (c, w) in state['callers'] for i in range(%d)])
                wall = time.monotonic() - t0
                per_ws = []
                for (c, w) in state['callers']:
                    sessions = await w.list_sessions()
                    per_ws.append({'workspace': c.config.workspace, 'sessions': sessions})
                state['per_ws'] = per_ws
                return {'results': results, 'wall': wall, 'per_workspace': per_ws}
                """.formatted(STARTS_PER_WORKSPACE), Duration.ofMinutes(10));

        List<Double> seconds = new ArrayList<>();
        Map<String, Integer> startedPerWorkspace = new HashMap<>();
        int started = 0;
        int refusedForTheTotal = 0;
        for (Object o : outcome.getJsonArray("results")) {
            JsonArray r = (JsonArray) o;
            seconds.add(r.getDouble(2));
            if ("ok".equals(r.getString(0))) {
                started++;
                startedPerWorkspace.merge(r.getString(1).substring(0, r.getString(1).indexOf('/')), 1, Integer::sum);
            } else {
                // the only acceptable failure is one of the policy's clean refusals
                assertThat(r.getString(1)).containsAnyOf("active sessions, the most allowed (policy.maxSessionsPerWorkspace)",
                        "active sessions, the most allowed (policy.maxSessionsTotal)").doesNotContain("internal error", "Exception");
                if (r.getString(1).contains("(policy.maxSessionsTotal)")) {
                    refusedForTheTotal++;
                }
            }
        }
        int mostPerWorkspace = Math.min(STARTS_PER_WORKSPACE, MAX_PER_WORKSPACE);
        int expectedStarted = Math.min(MAX_TOTAL, WORKSPACES * mostPerWorkspace);
        assertThat(started).isEqualTo(expectedStarted);
        assertThat(startedPerWorkspace.values()).allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(mostPerWorkspace));
        if (MAX_TOTAL < WORKSPACES * mostPerWorkspace) {
            assertThat(refusedForTheTotal).isPositive();
        } else {
            assertThat(startedPerWorkspace).hasSize(WORKSPACES).allSatisfy((ws, n) -> assertThat(n).as(ws).isEqualTo(mostPerWorkspace));
        }
        // refused starts created nothing; admitted ones exactly one Job and one token Secret each
        assertThat(kube.batch().v1().jobs().inNamespace(namespace).list().getItems()).hasSize(started);
        assertThat(kube.secrets().inNamespace(namespace).list().getItems()).hasSize(started);
        for (Object o : outcome.getJsonArray("per_workspace")) {
            JsonObject ws = (JsonObject) o;
            JsonArray sessions = ws.getJsonArray("sessions");
            assertThat(sessions).as("sessions listed in %s", ws.getString("workspace"))
                    .hasSize(startedPerWorkspace.getOrDefault(ws.getString("workspace"), 0));
            sessions.forEach(s -> {
                assertThat(((JsonObject) s).getString("workspace")).isEqualTo(ws.getString("workspace"));
                assertThat(((JsonObject) s).getString("status")).isEqualTo("running");
            });
        }

        py.exec("""
                await asyncio.gather(*[w.stop(s['session_id']) for (c, w), ws in zip(state['callers'], state['per_ws']) for s in ws['sessions']])
                """, Duration.ofMinutes(5));
        Await.until("every Job and token Secret to be gone", Duration.ofSeconds(120), () ->
                kube.batch().v1().jobs().inNamespace(namespace).list().getItems().isEmpty()
                        && kube.secrets().inNamespace(namespace).list().getItems().isEmpty());
        assertThat(worker.logText()).doesNotContain("has been blocked");

        seconds.sort(Double::compare);
        System.out.printf("load: %d starts from %d workspaces in %.1f s: %d started, %d refused by policy (%d for the total);"
                + " start() p50 %.2f s, max %.2f s%n", seconds.size(), WORKSPACES, outcome.getDouble("wall"), started,
                seconds.size() - started, refusedForTheTotal,
                seconds.get(seconds.size() / 2), seconds.get(seconds.size() - 1));
        py.exec("await asyncio.gather(*[c.disconnect() for (c, w) in state['callers']])");
    }
}
