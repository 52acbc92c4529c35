package io.hypha.testing.k8s;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.function.Supplier;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;

/**
 * JUnit 5 access to the local test cluster started by {@code scripts/k8s-cluster.sh start}.
 *
 * <pre>
 * &#64;RegisterExtension
 * static final KubeCluster cluster = new KubeCluster();
 * ...
 * cluster.client().batch().v1().jobs().inNamespace(cluster.namespace()).resource(job).create();
 * </pre>
 *
 * Each test gets a fresh namespace ({@link #namespace()}), deleted after the test. The admin
 * client is shared by all test classes of the JVM. A missing or unreachable cluster fails the
 * tests (never skips them) with a message saying how to start it.
 *
 * The client's HTTP layer is Vert.x: call its blocking methods from test threads only, never
 * from a Vert.x event loop.
 */
public final class KubeCluster implements BeforeAllCallback, BeforeEachCallback, AfterEachCallback {

    /** Overrides the kubeconfig location. */
    public static final String KUBECONFIG_ENV = "KUBECONFIG_HYPHA_TEST";

    private static final String START_HINT = "start the test cluster with: scripts/k8s-cluster.sh start";

    private static final ResourceDefinitionContext KWOK_LOGS = new ResourceDefinitionContext.Builder()
            .withGroup("kwok.x-k8s.io").withVersion("v1alpha1").withKind("Logs").withPlural("logs")
            .withNamespaced(true).build();

    private static Config adminConfig;
    private static KubernetesClient adminClient;

    private final List<String> namespaces = new ArrayList<>();
    private String namespace;

    /** The kubeconfig the tests use. */
    public static Path kubeconfigPath() {
        String override = System.getenv(KUBECONFIG_ENV);
        if (override != null && !override.isBlank()) {
            return Path.of(override);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "hypha-k8s-worker", "run", "kubeconfig");
    }

    /** The admin client (group system:masters), shared and never closed before JVM exit. */
    public static synchronized KubernetesClient adminClient() {
        if (adminClient == null) {
            Path path = kubeconfigPath();
            if (!Files.isRegularFile(path)) {
                throw new AssertionError("no kubeconfig at " + path + ": " + START_HINT);
            }
            Config config;
            try {
                config = Config.fromKubeconfig(Files.readString(path));
            } catch (IOException | RuntimeException e) {
                throw new AssertionError("cannot read kubeconfig " + path + " (" + e + "): " + START_HINT, e);
            }
            // The probe does not retry, so a stopped cluster fails the tests at once.
            Config probeConfig = new ConfigBuilder(config).withRequestRetryBackoffLimit(0)
                    .withConnectionTimeout(3000).withRequestTimeout(5000).build();
            try (KubernetesClient probe = new KubernetesClientBuilder().withConfig(probeConfig).build()) {
                checkReachable(probe, path);
            }
            KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build();
            adminConfig = config;
            adminClient = client;
            Runtime.getRuntime().addShutdownHook(new Thread(client::close, "kube-cluster-close"));
        }
        return adminClient;
    }

    private static void checkReachable(KubernetesClient client, Path path) {
        String where = client.getMasterUrl() + " (kubeconfig " + path + ")";
        try {
            client.getKubernetesVersion();
        } catch (RuntimeException e) {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            throw new AssertionError("Kubernetes test cluster at " + where + " is not reachable (" + root
                    + "): " + START_HINT, e);
        }
        List<Node> nodes = client.nodes().list().getItems();
        boolean ready = nodes.stream().anyMatch(n -> n.getStatus() != null && n.getStatus().getConditions() != null
                && n.getStatus().getConditions().stream()
                        .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus())));
        if (!ready) {
            throw new AssertionError("Kubernetes test cluster at " + where + " has no Ready node (kwok down?): "
                    + "check scripts/k8s-cluster.sh status, restart with scripts/k8s-cluster.sh stop && "
                    + "scripts/k8s-cluster.sh start");
        }
    }

    /**
     * A client authenticating with a bearer token only (e.g. a ServiceAccount token from the
     * TokenRequest API), against the same server and CA as the admin client. The caller closes it.
     */
    public static KubernetesClient clientWithToken(String token, String defaultNamespace) {
        adminClient();
        // Built from an empty config so nothing (kubeconfig file, env, admin token) can leak in.
        Config config = new ConfigBuilder(Config.empty())
                .withMasterUrl(adminConfig.getMasterUrl())
                .withCaCertData(adminConfig.getCaCertData())
                .withTrustCerts(adminConfig.isTrustCerts())
                .withOauthToken(token)
                .withNamespace(defaultNamespace)
                .build();
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    /** The shared admin client. */
    public KubernetesClient client() {
        return adminClient();
    }

    /** The current test's namespace. */
    public String namespace() {
        if (namespace == null) {
            throw new IllegalStateException("no test namespace: use KubeCluster as a @RegisterExtension field");
        }
        return namespace;
    }

    /** An extra namespace (with labels), deleted after the current test like {@link #namespace()}. */
    public String createNamespace(String prefix, Map<String, String> labels) {
        String name = uniqueName(prefix);
        Namespace ns = new NamespaceBuilder().withNewMetadata().withName(name).withLabels(labels).endMetadata()
                .build();
        adminClient().namespaces().resource(ns).create();
        namespaces.add(name);
        return name;
    }

    /**
     * Makes {@code pods/log} of one pod of the current namespace return these lines (stdout),
     * instead of the cluster-wide default file: writes a CRI-format log file and points a kwok
     * {@code Logs} object (named like the pod) at it. kwok picks it up within a moment.
     */
    public void setPodLog(String podName, String... lines) {
        StringBuilder cri = new StringBuilder();
        Instant time = Instant.now().minusSeconds(lines.length);
        for (String line : lines) {
            cri.append(time).append(" stdout F ").append(line).append('\n');
            time = time.plusSeconds(1);
        }
        Path file;
        try {
            file = Files.createTempFile("hypha-pod-log-", ".log");
            file.toFile().deleteOnExit();
            Files.writeString(file, cri);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        GenericKubernetesResource logs = new GenericKubernetesResourceBuilder()
                .withApiVersion("kwok.x-k8s.io/v1alpha1").withKind("Logs")
                .withNewMetadata().withName(podName).withNamespace(namespace()).endMetadata()
                .addToAdditionalProperties("spec", Map.of("logs", List.of(Map.of("logsFile", file.toString()))))
                .build();
        adminClient().genericKubernetesResources(KWOK_LOGS).inNamespace(namespace()).resource(logs)
                .createOr(existing -> existing.update());
    }

    /**
     * Like {@link #setPodLog}, but kwok follows the file ({@code follow: true}): a log request with
     * {@code follow=true} streams the lines {@link #appendPodLog} adds later, as a kubelet streams a
     * running container's output. Returns the file.
     */
    public Path followPodLog(String podName, String... lines) {
        Path file;
        try {
            file = Files.createTempFile("hypha-pod-log-", ".log");
            file.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        appendPodLog(file, lines);
        GenericKubernetesResource logs = new GenericKubernetesResourceBuilder()
                .withApiVersion("kwok.x-k8s.io/v1alpha1").withKind("Logs")
                .withNewMetadata().withName(podName).withNamespace(namespace()).endMetadata()
                .addToAdditionalProperties("spec", Map.of("logs", List.of(Map.of("logsFile", file.toString(), "follow", true))))
                .build();
        adminClient().genericKubernetesResources(KWOK_LOGS).inNamespace(namespace()).resource(logs)
                .createOr(existing -> existing.update());
        return file;
    }

    /** Adds stdout lines to a pod log file of {@link #followPodLog}, in CRI format, as the container would. */
    public static void appendPodLog(Path file, String... lines) {
        StringBuilder cri = new StringBuilder();
        for (String line : lines) {
            cri.append(Instant.now()).append(" stdout F ").append(line).append('\n');
        }
        try {
            Files.writeString(file, cri, java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        adminClient();
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        String prefix = context.getRequiredTestMethod().getName();
        namespace = createNamespace(prefix, Map.of("hypha.io/test", "true"));
    }

    @Override
    public void afterEach(ExtensionContext context) {
        // Not waited for: the namespace controller finishes the deletion in the background.
        for (String ns : namespaces) {
            try {
                adminClient().namespaces().withName(ns).delete();
            } catch (RuntimeException e) {
                System.err.println("could not delete test namespace " + ns + ": " + e);
            }
        }
        namespaces.clear();
        namespace = null;
    }

    /** A DNS-1123 label: the prefix, shortened and lower-cased, plus a random suffix. */
    static String uniqueName(String prefix) {
        String base = prefix.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT)
                .replaceAll("[^a-z0-9-]", "-").replaceAll("-+", "-").replaceAll("^-|-$", "");
        if (base.length() > 40) {
            base = base.substring(0, 40).replaceAll("-$", "");
        }
        if (base.isEmpty()) {
            base = "t";
        }
        return base + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** Polls until the supplier returns non-null, or fails after the timeout. */
    public static <T> T await(String what, Duration timeout, Supplier<T> supplier) {
        long deadline = System.nanoTime() + timeout.toNanos();
        RuntimeException last = null;
        while (true) {
            try {
                T value = supplier.get();
                if (value != null) {
                    return value;
                }
            } catch (RuntimeException e) {
                last = e;
            }
            if (System.nanoTime() > deadline) {
                AssertionError error = new AssertionError("timed out after " + timeout + " waiting for " + what);
                if (last != null) {
                    error.initCause(last);
                }
                throw error;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }
}
