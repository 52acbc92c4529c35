package io.hypha.k8sworker.bridge;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.vertx.core.json.JsonObject;

/** execute's answer in Hypha's shape, and pydantic models read as their fields. */
class ExecuteResultTest {

    @Test
    void aCommandThatSucceededIsOkWithItsStreamsWithoutTrailingNewlines() {
        Map<String, Object> r = ExecuteCall.result(new JsonObject().put("exitCode", 0).put("stdout", "a\nb\n\n")
                .put("stderr", "").put("truncated", false).put("timedOut", false));
        assertThat(r).isEqualTo(Map.of("status", "ok", "outputs", List.of(Map.of("type", "stream", "name", "stdout", "text", "a\nb"))));
    }

    @Test
    void aFailedCommandIsACommandErrorWithItsStderrAsTraceback() {
        Map<String, Object> r = ExecuteCall.result(new JsonObject().put("exitCode", 2).put("stdout", "")
                .put("stderr", "no such file\n").put("truncated", false).put("timedOut", false));
        assertThat(r).containsEntry("status", "error").containsEntry("error", Map.of("ename", "CommandError",
                "evalue", "Command failed with return code 2", "traceback", List.of("no such file")));
        assertThat(r.get("outputs")).isEqualTo(List.of(Map.of("type", "stream", "name", "stderr", "text", "no such file")));
    }

    @Test
    void aTimeoutIsATimeoutErrorAndCutOutputIsMarked() {
        Map<String, Object> r = ExecuteCall.result(new JsonObject().putNull("exitCode").put("stdout", "partial")
                .put("stderr", "").put("truncated", true).put("timedOut", true));
        assertThat(r).containsEntry("status", "error").containsEntry("truncated", true);
        assertThat(((Map<?, ?>) r.get("error")).get("ename")).isEqualTo("TimeoutError");
    }

    @Test
    void aPydanticModelIsReadAsItsFieldsAndOtherValuesAsThemselves() {
        Map<String, Object> fields = Map.of("image", "python:3.11");
        assertThat(CallArgs.pydanticValue(Map.of("_rtype", "pydantic_model", "_rvalue", fields, "_rschema", Map.of())))
                .isEqualTo(fields);
        Map<String, Object> plain = Map.of("_rtype", "something-else", "_rvalue", fields);
        assertThat(CallArgs.pydanticValue(plain)).isSameAs(plain);
        assertThat(CallArgs.pydanticValue("text")).isEqualTo("text");
    }
}
