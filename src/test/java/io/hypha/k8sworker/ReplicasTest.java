package io.hypha.k8sworker;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.hypha.testing.Await;
import io.hypha.testing.HyphaTestServer;
import io.hypha.testing.PythonPeer;
import io.hypha.testing.WorkerProcess;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.json.JsonArray;

/**
 * Several replicas of one worker, against the real Hypha server and control plane: the replicas
 * hold a Lease, only the leader registers the service id (so {@code get_service("<ws>/<id>")},
 * the README's call, finds exactly one), every replica registers the replica id, and when the
 * leader dies or shuts down another takes over, knowing every session.
 */
@Tag("hypha")
@Tag("k8s")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ReplicasTest {

    static final String SERVICE_ID = "k8s-worker-replicas-" + Long.toString(System.nanoTime(), 36);
    static final String REPLICA_ID = SERVICE_ID + "-replicas";
    static final String LEASE = "lease-" + Long.toString(System.nanoTime(), 36);
    /** policy.maxSessionsPerWorkspace of every replica. */
    static final int LIMIT = 4;

    static HyphaTestServer hypha;
    static KubernetesClient kube;
    static String namespace;
    static PythonPeer py;
    static String ws;
    static final List<WorkerProcess> replicas = new ArrayList<>();
    static String session;

    static WorkerProcess replica() {
        Map<String, String> env = new HashMap<>(Map.of("HYPHA_SERVER_URL", hypha.url(), "HYPHA_TOKEN", hypha.userToken(),
                "HYPHA_K8S_NAMESPACE", namespace, "HYPHA_VISIBILITY", "public", "KUBECONFIG", KubeCluster.kubeconfigPath().toString(),
                "HYPHA_SERVICE_ID", SERVICE_ID, "HYPHA_K8S_WORKER_REPLICAS_LEADER_ELECTION", "true",
                "HYPHA_K8S_WORKER_REPLICAS_LEASE_NAME", LEASE, "HYPHA_K8S_WORKER_POLICY_MAX_SESSIONS_PER_WORKSPACE",
                String.valueOf(LIMIT)));
        WorkerProcess w = new WorkerProcess(env).start();
        replicas.add(w);
        return w;
    }

    @BeforeAll
    static void setUp() {
        hypha = HyphaTestServer.shared();
        kube = KubeCluster.adminClient();
        namespace = "replicas-" + Long.toString(System.nanoTime(), 36);
        kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
        replica();
        replica();
        py = hypha.python(Map.of("token", hypha.userToken(), "client_id", "py-replicas-" + Long.toString(System.nanoTime(), 36)));
        ws = py.workspace();
    }

    @AfterAll
    static void tearDown() {
        if (py != null) {
            py.close();
        }
        replicas.forEach(WorkerProcess::close);
        if (kube != null && namespace != null) {
            kube.namespaces().withName(namespace).delete();
        }
    }

    /** The registrations of our two ids in the workspace, as {@code <id>} per registration. */
    private static List<String> registrations() {
        JsonArray ids = (JsonArray) py.exec("return [s['id'] for s in await server.list_services({'workspace': '%s'})]".formatted(ws));
        List<String> out = new ArrayList<>();
        for (Object id : ids) {
            String service = String.valueOf(id).substring(String.valueOf(id).indexOf(':') + 1);
            if (service.equals(SERVICE_ID) || service.equals(REPLICA_ID)) {
                out.add(service);
            }
        }
        return out;
    }

    private static WorkerProcess leader() {
        Lease lease = kube.leases().inNamespace(namespace).withName(LEASE).get();
        String holder = lease == null ? null : lease.getSpec().getHolderIdentity();
        return replicas.stream().filter(w -> w.isAlive() && holder != null && holder.endsWith("-" + w.pid())).findFirst()
                .orElseThrow(() -> new AssertionError("no live replica holds the Lease (holder " + holder + ")"));
    }

    /** Waits until the service id answers again with every session; how long that took. */
    private static Duration untilTheServiceIdAnswersWithTheSession() {
        long start = System.nanoTime();
        Await.until("the service id to answer again", Duration.ofSeconds(60), () -> {
            try {
                Object listed = py.exec("""
                        w = await server.get_service('%s/%s')
                        return [s['session_id'] for s in await w.list_sessions()]
                        """.formatted(ws, SERVICE_ID));
                return ((JsonArray) listed).contains(session);
            } catch (PythonPeer.PythonError e) {
                return false;
            }
        });
        return Duration.ofNanos(System.nanoTime() - start);
    }

    @Test
    @Order(1)
    void theLeaderAloneHoldsTheServiceIdAndEveryReplicaTheReplicaId() {
        Await.until("one leader registration and two replica registrations", Duration.ofSeconds(30),
                () -> registrations().stream().filter(SERVICE_ID::equals).count() == 1
                        && registrations().stream().filter(REPLICA_ID::equals).count() == 2);
        // the README's call form works with two replicas running
        session = (String) py.exec("""
                w = await server.get_service('%s/%s')
                return await w.start({'manifest': {'image': 'python:3.11', 'command': ['sleep', '3600']}})
                """.formatted(ws, SERVICE_ID));
        // any replica answers for any session: Kubernetes holds them all
        for (int i = 0; i < 6; i++) {
            Object info = py.exec("""
                    w = await server.get_service('%s/%s', {'mode': 'random'})
                    return (await w.get_session_info('%s'))['session_id']
                    """.formatted(ws, REPLICA_ID, session));
            assertThat(info).isEqualTo(session);
        }
    }

    @Test
    @Order(2)
    void whenTheLeaderIsKilledAnotherReplicaTakesTheServiceIdAndKnowsEverySession() {
        WorkerProcess old = leader();
        old.kill();
        Duration failover = untilTheServiceIdAnswersWithTheSession();
        System.out.printf("failover after SIGKILL of the leader: %d ms%n", failover.toMillis());
        assertThat(leader()).isNotSameAs(old);
        assertThat(registrations()).containsExactlyInAnyOrder(SERVICE_ID, REPLICA_ID);
    }

    @Test
    @Order(3)
    void aLeaderThatShutsDownHandsTheServiceIdOverAtOnce() {
        replica();
        WorkerProcess old = leader();
        old.terminate();
        Duration handover = untilTheServiceIdAnswersWithTheSession();
        System.out.printf("handover after SIGTERM of the leader: %d ms%n", handover.toMillis());
        assertThat(leader()).isNotSameAs(old);
        assertThat(registrations()).containsExactlyInAnyOrder(SERVICE_ID, REPLICA_ID);
    }

    @Test
    @Order(4)
    void concurrentStartsSpreadOverTheReplicasNeverPassTheWorkspacesLimitAndLeaveNothingBehind() {
        // sessions that hold a place: not finished (kwok completes python:3.11 pods; python:long ones run until stopped)
        int before = activeJobs().size();
        int demand = 8;
        JsonArray results = (JsonArray) py.exec("""
                import asyncio
                async def one():
                    w = await server.get_service('%s/%s', {'mode': 'random'})
                    try:
                        return await w.start({'manifest': {'image': 'python:long', 'command': ['sleep', '3600']}})
                    except Exception as e:
                        return 'refused: ' + str(e)
                return await asyncio.gather(*[one() for _ in range(%d)])
                """.formatted(ws, REPLICA_ID, demand), Duration.ofMinutes(3));
        long started = results.stream().filter(r -> !String.valueOf(r).startsWith("refused: ")).count();
        System.out.printf("concurrent starts over two replicas: %d of %d started, %d sessions before, limit %d%n",
                started, demand, before, LIMIT);
        assertThat(results.stream().filter(r -> String.valueOf(r).startsWith("refused: ")))
                .allSatisfy(r -> assertThat(String.valueOf(r)).contains("policy.maxSessionsPerWorkspace"));
        assertThat(started).isPositive();
        assertThat(before + started).isLessThanOrEqualTo(LIMIT);
        // the refused starts' Jobs are gone, none left suspended, and every start that succeeded runs
        Await.until("the refused starts' Jobs to go", Duration.ofSeconds(30), () -> activeJobs().size() == before + started);
        assertThat(activeJobs()).noneMatch(j -> Boolean.TRUE.equals(j.getSpec().getSuspend()));
        assertThat(kube.secrets().inNamespace(namespace).list().getItems()).allSatisfy(secret -> assertThat(
                secret.getMetadata().getOwnerReferences()).isNotEmpty());
    }

    private static List<io.fabric8.kubernetes.api.model.batch.v1.Job> activeJobs() {
        return kube.batch().v1().jobs().inNamespace(namespace).list().getItems().stream()
                .filter(j -> j.getMetadata().getDeletionTimestamp() == null)
                .filter(j -> j.getStatus() == null || j.getStatus().getConditions() == null || j.getStatus().getConditions().stream()
                        .noneMatch(c -> List.of("Complete", "Failed").contains(c.getType()) && "True".equals(c.getStatus())))
                .toList();
    }
}
