package io.hypha.k8sworker.bus;

import java.util.Set;

/**
 * Fields of Hypha's app manifests (its Artifact and ApplicationManifest models), which the app
 * controller passes along: job types ignore them, a session does not store them, and a strict
 * manifest may still carry them.
 */
public final class AppMetadata {

    public static final Set<String> FIELDS = Set.of("name", "description", "version", "id", "entry_point", "tags", "icon",
            "covers", "format_version", "license", "authors", "requirements", "startup_config", "config", "services",
            "service_ids", "singleton", "daemon", "autoscaling", "worker_managed", "api_version", "badges", "docs",
            "source_hash", "created_at", "updated_at", "readme", "files", "apps", "startup_context", "hypha_token",
            "attachments", "dependencies", "documentation", "git_repo", "links", "maintainers", "passive",
            "service_selection_mode", "source");

    private AppMetadata() {
    }
}
