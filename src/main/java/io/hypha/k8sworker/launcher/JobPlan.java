package io.hypha.k8sworker.launcher;

import java.util.List;
import java.util.Map;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;

/** What a job type wants in its pod; {@link JobFactory} turns it into a hardened Job. */
record JobPlan(String image, String imagePullPolicy, List<String> command, List<String> args, List<EnvVar> env,
               ResourceRequirements resources, Map<String, String> nodeSelector, List<Toleration> tolerations, String serviceAccount,
               List<Volume> volumes, List<VolumeMount> volumeMounts, String restartPolicy, int backoffLimit,
               long timeoutSeconds, long runAsUser, boolean waitForService, String serviceId, long serviceTimeoutSeconds,
               String workingDir) {

    /** A plan that keeps the image's working directory. */
    JobPlan(String image, String imagePullPolicy, List<String> command, List<String> args, List<EnvVar> env,
            ResourceRequirements resources, Map<String, String> nodeSelector, List<Toleration> tolerations, String serviceAccount,
            List<Volume> volumes, List<VolumeMount> volumeMounts, String restartPolicy, int backoffLimit,
            long timeoutSeconds, long runAsUser, boolean waitForService, String serviceId, long serviceTimeoutSeconds) {
        this(image, imagePullPolicy, command, args, env, resources, nodeSelector, tolerations, serviceAccount, volumes, volumeMounts,
                restartPolicy, backoffLimit, timeoutSeconds, runAsUser, waitForService, serviceId, serviceTimeoutSeconds, null);
    }
}
