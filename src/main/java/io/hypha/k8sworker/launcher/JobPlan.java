package io.hypha.k8sworker.launcher;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;

/**
 * What a job type wants in its pod; {@link JobFactory} turns it into a hardened Job. Built with
 * {@link #builder}: what a type does not set keeps the image's choice or the worker's default.
 */
record JobPlan(String image, String imagePullPolicy, List<String> command, List<String> args, List<EnvVar> env,
               ResourceRequirements resources, Map<String, String> nodeSelector, List<Toleration> tolerations, String serviceAccount,
               List<Volume> volumes, List<VolumeMount> volumeMounts, String restartPolicy, int backoffLimit,
               long timeoutSeconds, long runAsUser, boolean waitForService, String serviceId, long serviceTimeoutSeconds,
               String workingDir) {

    /** The user a session's processes run as unless its type says otherwise. */
    static final long DEFAULT_USER = 1000;

    /** A plan of {@code image}, with the timeout, resources and service wait of the compiled manifest. */
    static Builder builder(String image, String imagePullPolicy, CompiledManifest.SessionFields session) {
        return new Builder(image, imagePullPolicy, session);
    }

    static final class Builder {
        private final String image;
        private final String imagePullPolicy;
        private final CompiledManifest.SessionFields session;
        private List<String> command;
        private List<String> args;
        private final List<EnvVar> env = new ArrayList<>();
        private Map<String, String> nodeSelector = Map.of();
        private List<Toleration> tolerations = List.of();
        private String serviceAccount;
        private final List<Volume> volumes = new ArrayList<>();
        private final List<VolumeMount> volumeMounts = new ArrayList<>();
        private String restartPolicy = "Never";
        private int backoffLimit;
        private long runAsUser = DEFAULT_USER;
        private String workingDir;

        private Builder(String image, String imagePullPolicy, CompiledManifest.SessionFields session) {
            this.image = image;
            this.imagePullPolicy = imagePullPolicy;
            this.session = session;
        }

        /** The entrypoint; null keeps the image's. */
        Builder command(List<String> command) {
            this.command = command;
            return this;
        }

        /** The entrypoint's arguments; null keeps the image's. */
        Builder args(List<String> args) {
            this.args = args;
            return this;
        }

        Builder env(List<EnvVar> env) {
            this.env.addAll(env);
            return this;
        }

        Builder nodeSelector(Map<String, String> nodeSelector) {
            this.nodeSelector = nodeSelector;
            return this;
        }

        Builder tolerations(List<Toleration> tolerations) {
            this.tolerations = tolerations;
            return this;
        }

        /** A service account whose token the pod gets; null: none, and no API credentials. */
        Builder serviceAccount(String serviceAccount) {
            this.serviceAccount = serviceAccount;
            return this;
        }

        Builder volume(Volume volume, VolumeMount mount) {
            volumes.add(volume);
            volumeMounts.add(mount);
            return this;
        }

        Builder restartPolicy(String restartPolicy) {
            this.restartPolicy = restartPolicy;
            return this;
        }

        Builder backoffLimit(int backoffLimit) {
            this.backoffLimit = backoffLimit;
            return this;
        }

        Builder runAsUser(long runAsUser) {
            this.runAsUser = runAsUser;
            return this;
        }

        /** The container's working directory; null keeps the image's. */
        Builder workingDir(String workingDir) {
            this.workingDir = workingDir;
            return this;
        }

        JobPlan build() {
            return new JobPlan(image, imagePullPolicy, command, args, List.copyOf(env), session.resourceRequirements(), nodeSelector,
                    tolerations, serviceAccount, List.copyOf(volumes), List.copyOf(volumeMounts), restartPolicy, backoffLimit,
                    session.timeout(), runAsUser, session.waitForService(), session.serviceId(), session.serviceTimeout(), workingDir);
        }
    }
}
