package io.hypha.k8sworker.watcher;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.hypha.k8sworker.bus.ErrorCode;
import io.hypha.k8sworker.bus.SessionRequest;
import io.hypha.k8sworker.bus.WorkerException;
import io.hypha.k8sworker.config.WorkerConfig;
import io.hypha.k8sworker.kube.KubeOps;
import io.hypha.k8sworker.kube.SessionMeta;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * get_logs without follow: a session's start-up progress, its Job's and pods' events (from the
 * informer's cache) and the end of each pod's log (read from Kubernetes, the only requests of a
 * get_logs, on the bounded log executor), filtered by type and paged.
 */
final class SessionLogs {

    private final WorkerConfig.Logs bounds;
    private final SessionCache cache;
    private final KubeOps kube;
    /** A session's recorded start-up progress. */
    private final Function<String, List<String>> progress;

    SessionLogs(WorkerConfig.Logs bounds, SessionCache cache, KubeOps kube, Function<String, List<String>> progress) {
        this.bounds = bounds;
        this.cache = cache;
        this.kube = kube;
        this.progress = progress;
    }

    /** The page of a session the caller may see ({@code s}) that the request asks for. */
    Future<JsonObject> logs(SessionView s, SessionRequest request) {
        String type = request.logType();
        int offset = request.offset();
        Integer limit = request.limit();
        List<String> objects = new ArrayList<>();
        objects.add(s.jobName());
        s.pods().forEach(p -> objects.add(p.getMetadata().getName()));
        // from the informer's cache: the log reads are the only requests of a get_logs
        List<Event> events = objects.stream().flatMap(name -> cache.eventsAbout(name).stream())
                .sorted(KubeOps.BY_TIME).toList();
        List<Pod> pods = s.pods().stream()
                .sorted((a, b) -> String.valueOf(a.getMetadata().getCreationTimestamp()).compareTo(String.valueOf(b.getMetadata().getCreationTimestamp())))
                .toList();
        List<Future<String>> logs = new ArrayList<>();
        for (Pod pod : pods) {
            logs.add(kube.containerLog(pod.getMetadata().getName(), SessionMeta.MAIN_CONTAINER, false,
                    bounds.tailLines(), bounds.limitBytes()));
        }
        return Future.join(new ArrayList<>(logs)).transform(ignored -> {
            if (logs.stream().anyMatch(f -> f.failed() && f.cause() instanceof RejectedExecutionException)) {
                return Future.failedFuture(new WorkerException(ErrorCode.UNAVAILABLE,
                        "get_logs: the worker is reading as many logs as it may at once (logs.threads, logs.queue); try again shortly"));
            }
            JsonArray items = new JsonArray();
            for (String p : progress.apply(s.sessionId())) {
                items.add(new JsonObject().put("type", "progress").put("content", p));
            }
            for (Event e : events) {
                String kind = "Warning".equals(e.getType()) ? "error" : "info";
                items.add(new JsonObject().put("type", kind).put("content",
                        e.getReason() + ": " + e.getMessage() + " (" + e.getInvolvedObject().getKind() + " "
                                + e.getInvolvedObject().getName() + ")"));
            }
            for (Future<String> log : logs) {
                if (log.succeeded()) {
                    for (String line : wholeLines(log.result(), bounds.limitBytes()).split("\n")) {
                        if (!line.isEmpty()) {
                            items.add(new JsonObject().put("type", "stdout").put("content", line));
                        }
                    }
                }
            }
            JsonArray filtered = new JsonArray();
            items.stream().map(JsonObject.class::cast).filter(i -> type == null || type.equals(i.getString("type"))).forEach(filtered::add);
            int total = filtered.size();
            int[] page = page(total, offset, limit);
            int from = page[0];
            int to = page[1];
            return Future.succeededFuture(new JsonObject().put("items", new JsonArray(filtered.getList().subList(from, to)))
                    .put("total", total).put("offset", offset).put("limit", limit));
        });
    }

    /**
     * A log read with limitBytes without its last line when the limit cut that line short (or a
     * character in it): callers get whole lines only.
     */
    static String wholeLines(String log, int limitBytes) {
        if (log.endsWith("\n") || log.getBytes(StandardCharsets.UTF_8).length < limitBytes) {
            return log;
        }
        return log.substring(0, log.lastIndexOf('\n') + 1);
    }

    /** The [from, to) slice of {@code total} items for a page; long arithmetic, as offset + limit may pass 2^31. */
    static int[] page(int total, int offset, Integer limit) {
        int from = Math.min(Math.max(0, offset), total);
        int to = limit == null ? total : (int) Math.min(total, (long) from + Math.max(0, limit));
        return new int[] {from, to};
    }
}
