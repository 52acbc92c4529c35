package io.hypha.k8sworker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.hypha.testing.HyphaTestServer;

/** The image's JVM environment, read from the Dockerfile, for tests that run the worker as the image does. */
final class ImageJvm {

    private ImageJvm() {
    }

    /**
     * JAVA_TOOL_OPTIONS and MALLOC_ARENA_MAX of the Dockerfile, without -XX:SharedArchiveFile: the
     * image's class-data archive matches its jar, not the classpath tests run.
     */
    static Map<String, String> env() {
        String dockerfile;
        try {
            dockerfile = Files.readString(HyphaTestServer.projectDir().resolve("Dockerfile")).replace("\\\n", " ");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, String> out = new HashMap<>();
        for (String name : List.of("JAVA_TOOL_OPTIONS", "MALLOC_ARENA_MAX")) {
            Matcher m = Pattern.compile(name + "=(\"[^\"]*\"|\\S+)").matcher(dockerfile);
            if (!m.find()) {
                throw new IllegalStateException("the Dockerfile sets no " + name);
            }
            out.put(name, m.group(1).replace("\"", "").replaceAll("-XX:SharedArchiveFile=\\S+\\s*", "").strip());
        }
        return out;
    }

    /** A Python snippet returning a token of {@code user}, admin of its own workspace ws-user-&lt;user&gt;, signed like the server's own. */
    static String tokenSnippet(HyphaTestServer hypha, String user) {
        return """
                import os
                os.environ['HYPHA_JWT_SECRET'] = %s
                from hypha.core import UserInfo, UserPermission
                from hypha.core.auth import _generate_presigned_token, create_scope
                ws = 'ws-user-' + %s
                info = UserInfo(id=%s, is_anonymous=False, email=None, parent=None, roles=['user'], expires_at=None,
                                scope=create_scope(workspaces={ws: UserPermission.admin}, current_workspace=ws))
                return _generate_presigned_token(info, 3600)
                """.formatted(pythonString(hypha.jwtSecret()), pythonString(user), pythonString(user));
    }

    /** A Python string literal (JSON's string syntax is Python's too). */
    static String pythonString(String s) {
        String json = new io.vertx.core.json.JsonArray().add(s).encode();
        return json.substring(1, json.length() - 1);
    }
}
