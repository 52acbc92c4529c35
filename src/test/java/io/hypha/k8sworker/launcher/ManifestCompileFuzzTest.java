package io.hypha.k8sworker.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;
import io.hypha.testing.fuzz.Manifests;

import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Any manifest, for any job type, compiles to a plan that builds a valid Job, or is refused with a
 * caller error that names the field: never an unexpected exception, never an unbounded echo of the
 * caller's text, never the words the Python client retries on.
 */
class ManifestCompileFuzzTest {

    static final EnumSet<ErrorCode> CALLER_ERRORS = EnumSet.of(ErrorCode.INVALID_REQUEST, ErrorCode.FORBIDDEN);
    static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    static final Pattern LABEL_VALUE = Pattern.compile("(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?");
    static final Pattern ENV_NAME = Pattern.compile("[-._a-zA-Z][-._a-zA-Z0-9]*");

    private final WorkerConfig config = WorkerConfig.load(Path.of("conf/config.yaml"), Map.of(
            "HYPHA_K8S_WORKER_POLICY_ALLOWED_SECRET_NAMES", "app-keys",
            "HYPHA_K8S_WORKER_POLICY_ALLOWED_SERVICE_ACCOUNTS", "runner"));
    private final List<JobType> types = JobTypes.enabled(config);
    private final JobFactory factory = new JobFactory(config);

    @Provide
    Arbitrary<Map<String, Object>> manifests() {
        return Manifests.manifests();
    }

    @Property
    void everyManifestCompilesToAValidJobOrIsRefusedNamingTheField(@ForAll("manifests") Map<String, Object> manifest) {
        JobType type = typeFor(manifest);
        LaunchRequest request = new LaunchRequest("ws-fuzz/fuzz-1", "fuzz-app", "ws-fuzz", "fuzz-1", "http://127.0.0.1:9",
                "a-token", "ws-fuzz/caller", null, manifest);
        Job job;
        try {
            CompiledManifest compiled = type.compile(manifest);
            job = factory.job(request, type.name(), type.plan(compiled, request), SessionMeta.jobName(request.sessionId(), "fuzz-1"));
        } catch (WorkerException e) {
            assertCallerError(e);
            return;
        }
        assertValid(job);
        assertWithinPolicy(job.getSpec().getTemplate().getSpec().getContainers().get(0));
    }

    static void assertCallerError(WorkerException e) {
        assertThat(e.code()).as(e.getMessage()).isIn(CALLER_ERRORS);
        assertThat(e.getMessage()).as("names the field").containsAnyOf("manifest", "policy.");
        assertThat(e.getMessage().length()).as("a bounded message: %.200s", e.getMessage()).isLessThan(2000);
        assertThat(e.getMessage()).doesNotContain("Peer", "Method not found", "Session not found");
    }

    private JobType typeFor(Map<String, Object> manifest) {
        Object t = manifest.get("type");
        return types.stream().filter(x -> x.name().equals(t)).findFirst().orElse(types.get(0));
    }

    /** Whatever a manifest asks for, an accepted job is bounded by the policy (conf/config.yaml: maxCpu 4, maxMemory 16Gi, maxGpus 0). */
    private void assertWithinPolicy(Container c) {
        WorkerConfig.Policy policy = config.policy();
        Map<String, Quantity> limits = c.getResources().getLimits();
        assertThat(limits).as("cpu and memory always limited").containsKeys("cpu", "memory");
        assertThat(Quantity.getAmountInBytes(limits.get("cpu"))).isPositive()
                .isLessThanOrEqualTo(Quantity.getAmountInBytes(new Quantity(policy.maxCpu())));
        assertThat(Quantity.getAmountInBytes(limits.get("memory"))).isPositive()
                .isLessThanOrEqualTo(Quantity.getAmountInBytes(new Quantity(policy.maxMemory())));
        for (Map<String, Quantity> q : List.of(limits, c.getResources().getRequests() == null ? Map.<String, Quantity>of()
                : c.getResources().getRequests())) {
            BigDecimal gpus = BigDecimal.ZERO;
            for (Map.Entry<String, Quantity> e : q.entrySet()) {
                if (e.getKey().equals("cpu") || e.getKey().equals("memory")) {
                    assertThat(Quantity.getAmountInBytes(e.getValue())).as(e.getKey()).isLessThanOrEqualTo(
                            Quantity.getAmountInBytes(new Quantity(e.getKey().equals("cpu") ? policy.maxCpu() : policy.maxMemory())));
                } else {
                    assertThat(e.getKey()).as("no resource the policy does not bound").endsWith("/gpu");
                    gpus = gpus.add(Quantity.getAmountInBytes(e.getValue()));
                }
            }
            assertThat(gpus).as("GPUs").isLessThanOrEqualTo(BigDecimal.valueOf(policy.maxGpus()));
        }
    }

    private static void assertValid(Job job) {
        assertThat(job.getMetadata().getName()).matches(DNS_LABEL);
        job.getMetadata().getLabels().forEach((k, v) -> assertThat(v).as("label %s", k).matches(LABEL_VALUE));
        var pod = job.getSpec().getTemplate().getSpec();
        assertThat(pod.getRestartPolicy()).isIn("Never", "OnFailure");
        assertThat(job.getSpec().getActiveDeadlineSeconds()).isPositive();
        for (Container c : pod.getContainers()) {
            assertThat(c.getImage()).isNotBlank();
            for (EnvVar e : c.getEnv()) {
                assertThat(e.getName()).matches(ENV_NAME);
            }
            if (c.getResources() != null) {
                for (Map<String, Quantity> q : List.of(c.getResources().getRequests(), c.getResources().getLimits())) {
                    // a quantity Kubernetes would refuse fails here
                    q.forEach((name, quantity) -> assertThat(Quantity.getAmountInBytes(quantity).signum()).as(name).isNotNegative());
                }
            }
        }
        // it serialises, as the client will when it creates it
        assertThat(Serialization.asJson(job)).contains(job.getMetadata().getName());
    }
}
