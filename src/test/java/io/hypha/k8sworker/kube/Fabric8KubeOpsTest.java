package io.hypha.k8sworker.kube;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.vertx5.Vertx5HttpClientFactory;
import io.hypha.testing.k8s.KubeCluster;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;

/**
 * The real Kubernetes seam against the test control plane, wired as the worker wires it: fabric8
 * on the worker's own Vert.x, called from an event loop. Each call's blocking part runs on the
 * k8s-ops executor and its result comes back on the calling event loop (a blocking call there, or
 * on a worker verticle's own thread, would hang: docs java-stack §3.8).
 */
@ExtendWith(VertxExtension.class)
class Fabric8KubeOpsTest {

    @RegisterExtension
    final KubeCluster cluster = new KubeCluster();

    private KubernetesClient client;
    private Fabric8KubeOps kube;

    @BeforeEach
    void connect(Vertx vertx) throws Exception {
        Config config = Config.fromKubeconfig(Files.readString(KubeCluster.kubeconfigPath()));
        client = new KubernetesClientBuilder().withConfig(config).withHttpClientFactory(new Vertx5HttpClientFactory(vertx)).build();
        kube = new Fabric8KubeOps(vertx, client, cluster.namespace(), 2, 1, 0);
    }

    @AfterEach
    void close(VertxTestContext ctx) {
        client.close();
        kube.close().onComplete(ctx.succeedingThenComplete());
    }

    @Test
    void callsFromAnEventLoopComeBackOnItAndDoWhatTheySay(Vertx vertx, VertxTestContext ctx) {
        Map<String, String> labels = Map.of(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE);
        Job job = new JobBuilder().withNewMetadata().withName("seam-job").withLabels(labels).endMetadata()
                .withNewSpec().withNewTemplate().withNewSpec().withRestartPolicy("Never")
                .addNewContainer().withName(SessionMeta.MAIN_CONTAINER).withImage("busybox:1").endContainer()
                .endSpec().endTemplate().endSpec().build();
        Secret token = new SecretBuilder().withNewMetadata().withName("seam-job-token").endMetadata()
                .addToStringData(SessionMeta.TOKEN_KEY, "t").build();
        List<String> informed = new CopyOnWriteArrayList<>();
        Context loop = vertx.getOrCreateContext();
        loop.runOnContext(v -> {
            Future<Job> created = kube.createSession(job, token);
            created.compose(j -> {
                ctx.verify(() -> {
                    assertThat(Vertx.currentContext()).isSameAs(loop);
                    assertThat(Context.isOnEventLoopThread()).isTrue();
                    // no pod before the service-watcher has counted the session
                    assertThat(j.getSpec().getSuspend()).isTrue();
                });
                return kube.resumeJob("seam-job");
            }).compose(resumed -> {
                ctx.verify(() -> assertThat(Vertx.currentContext()).isSameAs(loop));
                return kube.informJobs(labels, new ResourceEventHandler<>() {
                    @Override
                    public void onAdd(Job obj) {
                        informed.add(obj.getMetadata().getName());
                    }

                    @Override
                    public void onUpdate(Job oldObj, Job newObj) {
                    }

                    @Override
                    public void onDelete(Job obj, boolean deletedFinalStateUnknown) {
                    }
                });
            }).compose(informer -> {
                ctx.verify(() -> {
                    assertThat(Vertx.currentContext()).isSameAs(loop);
                    // the initial list was handed over before the informer was
                    assertThat(informed).containsExactly("seam-job");
                    assertThat(informer.isWatching()).isTrue();
                });
                informer.close();
                return kube.deleteJob("seam-job");
            }).compose(deleted -> {
                ctx.verify(() -> assertThat(deleted).isTrue());
                return kube.deleteJob("no-such-job");
            }).onComplete(ctx.succeeding(deleted -> ctx.verify(() -> {
                assertThat(Vertx.currentContext()).isSameAs(loop);
                assertThat(deleted).isFalse();
                ctx.completeNow();
            })));
        });
    }

    @Test
    void theTokenSecretIsOwnedByItsJob(Vertx vertx, VertxTestContext ctx) {
        Job job = new JobBuilder().withNewMetadata().withName("owned-job").endMetadata()
                .withNewSpec().withNewTemplate().withNewSpec().withRestartPolicy("Never")
                .addNewContainer().withName(SessionMeta.MAIN_CONTAINER).withImage("busybox:1").endContainer()
                .endSpec().endTemplate().endSpec().build();
        Secret token = new SecretBuilder().withNewMetadata().withName("owned-job-token").endMetadata()
                .addToStringData(SessionMeta.TOKEN_KEY, "t").build();
        vertx.getOrCreateContext().runOnContext(v -> kube.createSession(job, token).onComplete(ctx.succeeding(created -> {
            // read back from a test thread: the admin client blocks
            new Thread(() -> ctx.verify(() -> {
                Secret secret = cluster.client().secrets().inNamespace(cluster.namespace()).withName("owned-job-token").get();
                assertThat(secret.getMetadata().getOwnerReferences()).singleElement()
                        .satisfies(o -> assertThat(o.getUid()).isEqualTo(created.getMetadata().getUid()));
                ctx.completeNow();
            })).start();
        })));
    }
}
