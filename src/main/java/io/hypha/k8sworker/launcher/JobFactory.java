package io.hypha.k8sworker.launcher;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.PodSecurityContextBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.SecurityContextBuilder;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.batch.v1.JobBuilder;
import io.hypha.k8sworker.bus.LaunchRequest;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.SessionMeta;

/** Builds the Job (and token Secret) of a session: a pure function of the plan and the request. */
final class JobFactory {

    private final WorkerConfig config;

    JobFactory(WorkerConfig config) {
        this.config = config;
    }

    /** Variables the worker sets in every session pod. */
    static List<EnvVar> hyphaEnv(LaunchRequest r) {
        List<EnvVar> env = new ArrayList<>();
        env.add(new EnvVar("HYPHA_SERVER_URL", r.serverUrl(), null));
        env.add(new EnvVar("HYPHA_WORKSPACE", r.workspace(), null));
        env.add(new EnvVar("HYPHA_CLIENT_ID", r.clientId(), null));
        env.add(new EnvVar("HYPHA_APP_ID", r.appId(), null));
        env.add(new EnvVar("HYPHA_SESSION_ID", r.sessionId(), null));
        // as Hypha's own workers get them: where the app's files are (its artifact and their download URL)
        if (r.artifactId() != null) {
            env.add(new EnvVar("HYPHA_ARTIFACT_ID", r.artifactId(), null));
        }
        if (r.appFilesBaseUrl() != null) {
            env.add(new EnvVar("HYPHA_APP_FILES_BASE_URL", r.appFilesBaseUrl(), null));
        }
        return env;
    }

    /** HYPHA_TOKEN from the session's own Secret: the token never appears in the Job. */
    static EnvVar tokenFromSessionSecret(String jobName) {
        return new EnvVarBuilder().withName("HYPHA_TOKEN").withNewValueFrom().withNewSecretKeyRef()
                .withName(SessionMeta.tokenSecretName(jobName)).withKey(SessionMeta.TOKEN_KEY).endSecretKeyRef()
                .endValueFrom().build();
    }

    static EnvVar fromSecret(String name, String secret, String key) {
        return new EnvVarBuilder().withName(name).withNewValueFrom().withNewSecretKeyRef()
                .withName(secret).withKey(key).endSecretKeyRef().endValueFrom().build();
    }

    Map<String, String> labels(LaunchRequest r, String jobType) {
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put(SessionMeta.MANAGED_BY, SessionMeta.MANAGED_BY_VALUE);
        labels.put(SessionMeta.COMPONENT, SessionMeta.COMPONENT_VALUE);
        labels.put(SessionMeta.WORKER, SessionMeta.workerLabel(config.hypha().serviceId()));
        labels.put(SessionMeta.JOB_TYPE, jobType);
        labels.put(SessionMeta.SESSION_KEY, SessionMeta.sessionKey(r.sessionId()));
        return labels;
    }

    Job job(LaunchRequest r, String jobType, JobPlan plan, String jobName) {
        Map<String, String> labels = labels(r, jobType);
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(SessionMeta.SESSION_ID, r.sessionId());
        annotations.put(SessionMeta.WORKSPACE, r.workspace());
        annotations.put(SessionMeta.APP_ID, r.appId());
        annotations.put(SessionMeta.CLIENT_ID, r.clientId());
        annotations.put(SessionMeta.CALLER, r.caller());
        if (r.user() != null) {
            annotations.put(SessionMeta.USER, r.user());
        }
        annotations.put(SessionMeta.CREATED_AT, Instant.now().toString());
        if (plan.serviceId() != null) {
            annotations.put(SessionMeta.SERVICE_ID, plan.serviceId());
        }
        if (r.entryPoint() != null) {
            annotations.put(SessionMeta.ENTRY_POINT, r.entryPoint());
        }
        if (r.daemonApp() != null) {
            annotations.put(SessionMeta.DAEMON_APP, r.daemonApp());
        }
        ContainerBuilder container = new ContainerBuilder()
                .withName(SessionMeta.MAIN_CONTAINER)
                .withImage(plan.image())
                .withImagePullPolicy(plan.imagePullPolicy())
                .withCommand(plan.command())
                .withArgs(plan.args())
                .withWorkingDir(plan.workingDir())
                .withEnv(plan.env())
                .withResources(plan.resources())
                .withVolumeMounts(plan.volumeMounts())
                .withSecurityContext(new SecurityContextBuilder()
                        .withAllowPrivilegeEscalation(false)
                        .withRunAsNonRoot(true)
                        .withNewCapabilities().withDrop("ALL").endCapabilities()
                        .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile()
                        .build());
        return new JobBuilder()
                .withNewMetadata().withName(jobName).withNamespace(config.kubernetes().namespace())
                .withLabels(labels).withAnnotations(annotations).endMetadata()
                .withNewSpec()
                .withActiveDeadlineSeconds(plan.timeoutSeconds())
                .withTtlSecondsAfterFinished(config.kubernetes().ttlSecondsAfterFinished())
                .withBackoffLimit(plan.backoffLimit())
                .withNewTemplate()
                .withNewMetadata().withLabels(labels).withAnnotations(Map.of(SessionMeta.SESSION_ID, r.sessionId())).endMetadata()
                .withNewSpec()
                .withRestartPolicy(plan.restartPolicy())
                // no API credentials in session pods, unless the policy lets the caller pick a service account for them
                .withServiceAccountName(plan.serviceAccount())
                .withAutomountServiceAccountToken(plan.serviceAccount() != null)
                .withEnableServiceLinks(false)
                .withNodeSelector(nodeSelector(plan))
                .withTolerations(tolerations(plan))
                .withVolumes(plan.volumes())
                .withSecurityContext(new PodSecurityContextBuilder()
                        .withRunAsNonRoot(true)
                        .withRunAsUser(plan.runAsUser())
                        .withRunAsGroup(plan.runAsUser())
                        .withFsGroup(plan.runAsUser())
                        .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile()
                        .build())
                .withContainers(container.build())
                .endSpec()
                .endTemplate()
                .endSpec()
                .build();
    }

    /** The caller's node selector (if the policy allowed one) under the operator's kubernetes.jobNodeSelector, whose keys win. */
    Map<String, String> nodeSelector(JobPlan plan) {
        Map<String, String> out = new LinkedHashMap<>(plan.nodeSelector());
        out.putAll(config.kubernetes().jobNodeSelector());
        return out.isEmpty() ? null : out;
    }

    /** The operator's kubernetes.jobTolerations, then the caller's (if the policy allowed any). */
    List<Toleration> tolerations(JobPlan plan) {
        List<Toleration> out = new ArrayList<>();
        for (Map<String, Object> t : config.kubernetes().jobTolerations()) {
            out.add(toleration(t));
        }
        out.addAll(plan.tolerations());
        return out;
    }

    /** A toleration as the config and manifests write it (its keys already checked). */
    static Toleration toleration(Map<String, Object> t) {
        Object seconds = t.get("tolerationSeconds");
        return new TolerationBuilder().withKey((String) t.get("key")).withOperator((String) t.get("operator"))
                .withValue((String) t.get("value")).withEffect((String) t.get("effect"))
                .withTolerationSeconds(seconds instanceof Number n ? n.longValue() : null).build();
    }

    Secret tokenSecret(LaunchRequest r, String jobType, String jobName) {
        return new SecretBuilder()
                .withNewMetadata().withName(SessionMeta.tokenSecretName(jobName)).withNamespace(config.kubernetes().namespace())
                .withLabels(labels(r, jobType)).endMetadata()
                .withType("Opaque")
                .withStringData(Map.of(SessionMeta.TOKEN_KEY, r.token()))
                .build();
    }
}
