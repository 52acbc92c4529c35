package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;

/**
 * Who may start what: anonymous callers, the per-user and total session limits, the job types that
 * run with the operator's secrets, and the agents' registration visibility, driven from the real
 * Python client against the real server and a worker process with the image's JVM options and the
 * shipped policy (only the limits made small enough to reach).
 *
 * <p>The worker logs in as the test user, so its own workspace is that user's; alice and bob share
 * alice's workspace, carol and dave each have their own, dave is listed in
 * policy.operatorSecretTypes.allowedUsers.
 */
@Tag("hypha")
@Tag("k8s")
class CallerPolicyTest {

    static final int MAX_PER_USER = 2;
    static final int MAX_TOTAL = 6;
    /** A session that runs until stopped (the test cluster's ":long" tag), so that it holds its place. */
    static final String BUSYBOX = "{'manifest': {'image': 'busybox:long'}}";
    /** Words the Python client retries on: no refusal may contain them. */
    static final List<String> RETRY_WORDS = List.of("Peer", "Method not found", "Session not found");

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static WorkerProcess worker;
    static String run;
    /** The worker's service id, its own so that no other worker in the test user's workspace answers for it. */
    static String serviceId;
    static String ownWs;
    static String aliceId;
    static String bobId;
    static String carolId;
    static String daveId;
    static String carolToken;
    static PythonPeer operator;
    static PythonPeer alice;
    static PythonPeer bob;
    static PythonPeer carol;
    static PythonPeer dave;

    @BeforeAll
    static void setUp() throws IOException {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        run = Long.toString(System.nanoTime(), 36);
        namespace = "callers-" + run;
        serviceId = "k8s-worker-callers-" + run;
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        aliceId = "alice-" + run;
        bobId = "bob-" + run;
        carolId = "carol-" + run;
        daveId = "dave-" + run;
        worker = new WorkerProcess(workerEnv(Map.of())).start();
        operator = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-operator-" + run));
        ownWs = operator.workspace();
        alice = hypha.python(Map.of("token", hypha.tokenFor(aliceId), "client_id", "py-" + aliceId));
        String aliceWs = alice.workspace();
        // bob may read and write in alice's workspace, and calls from there
        bob = hypha.python(Map.of("token", hypha.tokenFor(bobId, Map.of("ws-user-" + bobId, "admin", aliceWs, "read_write"), aliceWs),
                "workspace", aliceWs, "client_id", "py-" + bobId));
        carolToken = hypha.tokenFor(carolId);
        carol = hypha.python(Map.of("token", carolToken, "client_id", "py-" + carolId));
        dave = hypha.python(Map.of("token", hypha.tokenFor(daveId), "client_id", "py-" + daveId));
        for (PythonPeer p : List.of(operator, alice, bob, carol, dave)) {
            connectToWorker(p, serviceId);
        }
        assertThat(bob.workspace()).isEqualTo(aliceWs);
    }

    static Map<String, String> workerEnv(Map<String, String> extra) throws IOException {
        Map<String, String> env = new HashMap<>(WorkerProcess.imageJvmEnv());
        env.put("HYPHA_SERVICE_ID", serviceId);
        env.putAll(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(), "HYPHA_K8S_NAMESPACE", namespace,
                "HYPHA_VISIBILITY", "public", "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "HYPHA_K8S_WORKER_KUBERNETES_START_TIMEOUT_SECONDS", "60",
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_USER", String.valueOf(MAX_PER_USER),
                "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_TOTAL", String.valueOf(MAX_TOTAL),
                "HYPHA_K8S_WORKER_POLICY_OPERATOR_SECRET_TYPES_ALLOWED_USERS", daveId));
        env.putAll(extra);
        return env;
    }

    @AfterAll
    static void tearDown() {
        for (PythonPeer p : new PythonPeer[] {operator, alice, bob, carol, dave}) {
            if (p != null) {
                p.close();
            }
        }
        if (worker != null) {
            worker.close();
        }
        if (kube != null && namespace != null) {
            kube.namespaces().withName(namespace).delete();
        }
    }

    /** Every test starts from an empty worker: each caller stops what it started. */
    @AfterEach
    void stopEverySession() {
        for (PythonPeer p : List.of(operator, alice, bob, carol, dave)) {
            p.exec("""
                    for s in await state['w'].list_sessions():
                        await state['w'].stop(s['session_id'])
                    """, Duration.ofSeconds(60));
        }
        Await.until("every Job to be gone", Duration.ofSeconds(60), () -> jobs().isEmpty());
    }

    static void connectToWorker(PythonPeer p, String serviceId) {
        p.exec("""
                for _ in range(100):
                    try:
                        state['w'] = await server.get_service('%s/%s')
                        await state['w'].list_sessions()
                        return
                    except Exception:
                        await asyncio.sleep(0.3)
                state['w'] = await server.get_service('%1$s/%2$s')
                """.formatted(ownWs, serviceId), Duration.ofSeconds(60));
    }

    /** ["ok", result] or ["refused", the error's text]: one call to the worker. */
    static JsonArray attempt(PythonPeer p, String call) {
        return (JsonArray) p.exec("""
                try:
                    return ['ok', await state['w'].%s]
                except Exception as e:
                    return ['refused', str(e)]
                """.formatted(call), Duration.ofSeconds(120));
    }

    static String started(PythonPeer p, String config) {
        JsonArray r = attempt(p, "start(" + config + ")");
        assertThat(r.getString(0)).as("start(%s): %s", config, r.getValue(1)).isEqualTo("ok");
        return r.getString(1);
    }

    static String refused(PythonPeer p, String config) {
        JsonArray r = attempt(p, "start(" + config + ")");
        assertThat(r.getString(0)).as("start(%s) was not refused: %s", config, r.getValue(1)).isEqualTo("refused");
        assertThat(r.getString(1)).doesNotContain(RETRY_WORDS);
        // the Python client prefixes every remote failure with "RemoteError:"
        return r.getString(1).replaceFirst("^RemoteError:", "").strip();
    }

    static List<Job> jobs() {
        return kube.batch().v1().jobs().inNamespace(namespace).list().getItems();
    }

    static List<Job> jobsOfWorkspace(String ws) {
        return jobs().stream().filter(j -> ws.equals(j.getMetadata().getAnnotations().get(SessionMeta.WORKSPACE))).toList();
    }

    static Job jobOf(String sessionId) {
        return jobs().stream().filter(j -> sessionId.equals(j.getMetadata().getAnnotations().get(SessionMeta.SESSION_ID)))
                .findFirst().orElseThrow(() -> new AssertionError("no Job for " + sessionId));
    }

    static List<String> numbersIn(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("\\d+").matcher(text);
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    @Test
    void anonymousCallersMayNotStartAnythingByDefaultAndTheirWorkspaceStaysUntouched() {
        String kept = started(operator, BUSYBOX);
        try (PythonPeer anonymous = hypha.python(Map.of("client_id", "py-anonymous-" + run))) {
            connectToWorker(anonymous, serviceId);
            for (String config : List.of(BUSYBOX, "{'manifest': {'type': 'claude-agent'}}", "{'manifest': {'type': 'conda-worker'}}",
                    "{'manifest': {'type': 'conda-worker'}, 'token': 'a-token-of-its-own'}")) {
                assertThat(refused(anonymous, config)).isEqualTo("anonymous callers may not start sessions here "
                        + "(policy.allowAnonymous is false); connect with a token");
            }
            assertThat((JsonArray) anonymous.exec("return await state['w'].list_sessions()")).isEmpty();
            assertThat(jobsOfWorkspace(anonymous.workspace())).isEmpty();
        }
        // nothing else changed, and the worker still serves its users
        assertThat(jobs()).hasSize(1);
        assertThat(jobOf(kept).getMetadata().getDeletionTimestamp()).isNull();
        assertThat(started(operator, BUSYBOX)).startsWith(ownWs + "/");
    }

    @Test
    void anonymousCallersStartSessionsOnlyOnAWorkerWithTheSwitchOn() throws IOException {
        String openServiceId = "k8s-worker-anonymous-" + run;
        try (WorkerProcess open = new WorkerProcess(workerEnv(Map.of("HYPHA_SERVICE_ID", openServiceId,
                "HYPHA_K8S_WORKER_POLICY_ALLOW_ANONYMOUS", "true"))).start();
             PythonPeer anonymous = hypha.python(Map.of("client_id", "py-anonymous-" + run))) {
            connectToWorker(anonymous, openServiceId);
            String session = started(anonymous, BUSYBOX);
            assertThat(session).startsWith(anonymous.workspace() + "/");
            assertThat(jobOf(session).getMetadata().getAnnotations().get(SessionMeta.USER)).startsWith("anonymouz-");
            anonymous.exec("await state['w'].stop('%s')".formatted(session));
        }
    }

    @Test
    void aUserOverThePerUserLimitIsRefusedWhileAnotherUserOfTheSameWorkspaceStillStartsAlsoAfterARestart() throws IOException {
        String aliceWs = alice.workspace();
        for (int i = 0; i < MAX_PER_USER; i++) {
            assertThat(started(alice, BUSYBOX)).startsWith(aliceWs + "/");
        }
        String refusal = refused(alice, BUSYBOX);
        assertThat(refusal).isEqualTo("you have " + MAX_PER_USER + " active sessions, the most allowed per user "
                + "(policy.maxSessionsPerUser); stop one first");
        // a token alice generates through the server has an id of its own, and alice as its parent: still alice
        String childToken = (String) alice.exec("return await server.generate_token({'workspace': '%s', 'permission': 'read_write'})"
                .formatted(aliceWs));
        try (PythonPeer aliceAgain = hypha.python(Map.of("token", childToken, "client_id", "py-child-" + aliceId))) {
            connectToWorker(aliceAgain, serviceId);
            JsonArray idAndParent = (JsonArray) aliceAgain.exec("return [server.config['user']['id'], server.config['user']['parent']]");
            assertThat(idAndParent.getString(0)).isNotEqualTo(aliceId);
            assertThat(idAndParent.getString(1)).isEqualTo(aliceId);
            assertThat(refused(aliceAgain, BUSYBOX)).isEqualTo(refusal);
        }
        String bobs = started(bob, BUSYBOX);
        assertThat(bobs).startsWith(aliceWs + "/");
        assertThat(jobOf(bobs).getMetadata().getAnnotations()).containsEntry(SessionMeta.USER, bobId);
        assertThat(jobsOfWorkspace(aliceWs)).hasSize(MAX_PER_USER + 1)
                .filteredOn(j -> aliceId.equals(j.getMetadata().getAnnotations().get(SessionMeta.USER))).hasSize(MAX_PER_USER);

        // a restarted worker counts each user's sessions from their Jobs
        worker.kill();
        worker = new WorkerProcess(workerEnv(Map.of())).start();
        for (PythonPeer p : List.of(operator, alice, bob, carol, dave)) {
            connectToWorker(p, serviceId);
        }
        assertThat(refused(alice, BUSYBOX)).isEqualTo(refusal);
        started(bob, BUSYBOX);
        assertThat(refused(bob, BUSYBOX)).doesNotContain(aliceId, aliceWs).contains("(policy.maxSessionsPerUser)");
    }

    @Test
    void theTotalLimitRefusesWithoutTellingTheWorkersTotalOrAnyoneElsesSessions() {
        List<String> others = new ArrayList<>();
        for (PythonPeer p : List.of(alice, bob, operator)) {
            for (int i = 0; i < MAX_PER_USER; i++) {
                others.add(started(p, BUSYBOX));
            }
        }
        assertThat(jobs()).hasSize(MAX_TOTAL);
        String refusal = refused(carol, BUSYBOX);
        assertThat(refusal).isEqualTo("this worker has no room for more active sessions, the most allowed "
                + "(policy.maxSessionsTotal) are running; try again later");
        assertThat(numbersIn(refusal)).isEmpty();
        assertThat(refusal).doesNotContain(ownWs, alice.workspace(), aliceId, bobId, "alice", "bob");
        assertThat(jobsOfWorkspace(carol.workspace())).isEmpty();
        // the others' sessions are untouched, and room that frees up is carol's
        assertThat(others).allSatisfy(s -> assertThat(jobOf(s).getMetadata().getDeletionTimestamp()).isNull());
        operator.exec("await state['w'].stop('%s')".formatted(others.get(others.size() - 1)));
        Await.until("the stopped session's room", Duration.ofSeconds(60),
                () -> "ok".equals(attempt(carol, "start(" + BUSYBOX + ")").getString(0)));
    }

    @Test
    void operatorSecretTypesAreOnlyForTheWorkersOwnUserAdminsAndThoseListed() {
        String agent = "{'manifest': {'type': 'claude-agent'}}";
        String conda = "{'manifest': {'type': 'conda-worker'}}";
        String agentRefusal = refused(carol, agent);
        assertThat(agentRefusal).isEqualTo("manifest.type: claude-agent runs with the operator's secrets; only admins, "
                + "the worker's own user and those listed in policy.operatorSecretTypes may start it");
        assertThat(refused(carol, conda)).isEqualTo("manifest.type: conda-worker runs with the operator's secrets unless config.token "
                + "gives it a token of the caller's own; only admins, the worker's own user and those listed in "
                + "policy.operatorSecretTypes may start it");
        assertThat(agentRefusal).doesNotContain(ownWs);
        // any user of another workspace
        assertThat(refused(alice, agent)).isEqualTo(agentRefusal);
        assertThat(jobsOfWorkspace(carol.workspace())).isEmpty();
        assertThat(jobsOfWorkspace(alice.workspace())).isEmpty();

        // with a token of her own, a conda worker holds no secret of the operator's
        String carols = started(carol, "{'manifest': {'type': 'conda-worker'}, 'token': %s}".formatted(pythonString(carolToken)));
        EnvVar carolsToken = tokenVariable(jobOf(carols));
        assertThat(carolsToken.getValueFrom().getSecretKeyRef().getName()).isEqualTo(SessionMeta.tokenSecretName(jobOf(carols)
                .getMetadata().getName()));
        // the worker's own user and a listed user may
        String operators = started(operator, conda);
        started(operator, agent);
        started(dave, conda);
        EnvVar operatorsToken = tokenVariable(jobOf(operators));
        assertThat(operatorsToken.getValueFrom().getSecretKeyRef().getName()).isEqualTo("hypha-secrets");
        assertThat(operatorsToken.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("HYPHA_AGENTS_TOKEN");
        // no command line of any Job carries a token or refers to one
        assertThat(jobs()).hasSize(4).allSatisfy(job -> {
            for (Container c : job.getSpec().getTemplate().getSpec().getContainers()) {
                List<String> line = new ArrayList<>();
                line.addAll(c.getCommand() == null ? List.of() : c.getCommand());
                line.addAll(c.getArgs() == null ? List.of() : c.getArgs());
                assertThat(line).as(job.getMetadata().getName())
                        .noneMatch(a -> a.contains(carolToken) || a.contains(hypha.userToken()) || a.contains("TOKEN"));
            }
        });
        // also through a token dave generated, which Hypha gives an id of its own
        String davesChild = (String) dave.exec("return await server.generate_token({'workspace': '%s', 'permission': 'read_write'})"
                .formatted(dave.workspace()));
        try (PythonPeer daveAgain = hypha.python(Map.of("token", davesChild, "client_id", "py-child-" + daveId))) {
            connectToWorker(daveAgain, serviceId);
            daveAgain.exec("await state['w'].stop(%s)".formatted(pythonString(started(daveAgain, conda))));
        }
    }

    /**
     * Hypha 0.21.137 lets any user generate a token whose extra scopes grant another workspace and
     * log in there: the operator-secret types and shutdown rest on the user ids the server stamps,
     * never on the caller's workspace.
     */
    @Test
    void aTokenForgedIntoTheWorkersWorkspaceNeitherStartsOperatorSecretTypesNorShutsTheWorkerDown() {
        String malloryId = "mallory-" + run;
        String agent = "{'manifest': {'type': 'claude-agent'}}";
        try (PythonPeer mallory = hypha.python(Map.of("token", hypha.tokenFor(malloryId), "client_id", "py-" + malloryId))) {
            String forged = (String) mallory.exec("""
                    return await server.generate_token({'workspace': '%s', 'permission': 'admin',
                                                        'extra_scopes': ['wid:%s', 'ws:%2$s#a']})
                    """.formatted(mallory.workspace(), ownWs));
            try (PythonPeer malloryInside = hypha.python(Map.of("token", forged, "workspace", ownWs, "client_id", "py-in-" + malloryId))) {
                assertThat(malloryInside.workspace()).isEqualTo(ownWs);
                connectToWorker(malloryInside, serviceId);
                String operators = started(operator, agent);
                String refusal = refused(malloryInside, agent);
                assertThat(refusal).startsWith("manifest.type: claude-agent runs with the operator's secrets");
                JsonArray shutdown = attempt(malloryInside, "shutdown()");
                assertThat(shutdown.getString(0)).isEqualTo("refused");
                assertThat(shutdown.getString(1)).contains("shutdown is only for admins and the worker's own user");
                assertThat(jobOf(operators).getMetadata().getDeletionTimestamp()).isNull();
                String daves = started(dave, agent);
                dave.exec("await state['w'].stop(%s)".formatted(pythonString(daves)));
                assertThat(jobsOfWorkspace(ownWs)).hasSize(1);
            }
        }
    }

    @Test
    void agentsMayNotRegisterPubliclyByDefaultAndTheRefusalNamesTheField() {
        for (String type : List.of("claude-agent", "conda-worker")) {
            for (String visibility : List.of("public", "unlisted")) {
                assertThat(refused(operator, "{'manifest': {'type': '%s', 'visibility': '%s'}}".formatted(type, visibility)))
                        .isEqualTo("manifest.visibility: " + visibility + " is wider than agents may register with here "
                                + "(policy.maxAgentVisibility: protected)");
            }
        }
        assertThat(jobs()).isEmpty();
        String session = started(operator, "{'manifest': {'type': 'claude-agent', 'visibility': 'protected'}}");
        assertThat(tokenVariable(jobOf(session))).isNotNull();
        assertThat(jobOf(session).getSpec().getTemplate().getSpec().getContainers().get(0).getEnv())
                .anySatisfy(e -> assertThat(e.getName() + "=" + e.getValue()).isEqualTo("SERVICE_VISIBILITY=protected"));
    }

    static EnvVar tokenVariable(Job job) {
        return job.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv().stream()
                .filter(e -> e.getName().equals("HYPHA_TOKEN")).findFirst().orElseThrow();
    }

    /** A Python string literal (JSON's string syntax is Python's too). */
    static String pythonString(String s) {
        String json = new JsonArray().add(s).encode();
        return json.substring(1, json.length() - 1);
    }
}
