package io.hypha.k8sworker;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;

/**
 * The verticles meet only on the event bus: a verticle's package never uses another verticle's
 * package, so each can be replaced, scaled or tested alone; what they share (addresses, operations,
 * messages) is the {@code bus} package, and only {@code Main} wires them together.
 */
class VerticleBoundaryTest {

    private static final String[] VERTICLE_PACKAGES = {"bridge", "launcher", "watcher", "health", "leader"};

    private final JavaClasses main = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.hypha.k8sworker");

    @Test
    void noVerticlePackageUsesAnother() {
        for (String own : VERTICLE_PACKAGES) {
            for (String other : VERTICLE_PACKAGES) {
                if (!own.equals(other)) {
                    noClasses().that().resideInAPackage("io.hypha.k8sworker." + own + "..")
                            .should().dependOnClassesThat().resideInAPackage("io.hypha.k8sworker." + other + "..")
                            .because("verticles talk only over the event bus")
                            .check(main);
                }
            }
        }
    }

    /**
     * The same rule on the sources: the compiler copies a constant (an operation name, say) into the
     * class that uses it, so the class files alone do not show such a use.
     */
    @Test
    void noVerticleSourceImportsAnother() throws IOException {
        Path root = Path.of("src/main/java/io/hypha/k8sworker");
        List<String> violations = new ArrayList<>();
        for (String own : VERTICLE_PACKAGES) {
            try (Stream<Path> files = Files.walk(root.resolve(own))) {
                for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                    for (String line : Files.readAllLines(file)) {
                        for (String other : VERTICLE_PACKAGES) {
                            if (!own.equals(other) && (line.startsWith("import io.hypha.k8sworker." + other + ".")
                                    || line.startsWith("import static io.hypha.k8sworker." + other + ".")
                                    || line.contains("io.hypha.k8sworker." + other + ".") && !line.startsWith("package "))) {
                                violations.add(root.relativize(file) + ": " + line.strip());
                            }
                        }
                    }
                }
            }
        }
        assertThat(violations).as("verticles talk only over the event bus").isEmpty();
    }

    @Test
    void theSharedPackagesUseNoVerticle() {
        for (String shared : new String[] {"bus", "config", "kube", "ports"}) {
            noClasses().that().resideInAPackage("io.hypha.k8sworker." + shared + "..")
                    .should().dependOnClassesThat().resideInAnyPackage(
                            java.util.Arrays.stream(VERTICLE_PACKAGES).map(p -> "io.hypha.k8sworker." + p + "..").toArray(String[]::new))
                    .because("what the verticles share must not tie them to one another")
                    .check(main);
        }
    }

    @Test
    void onlyTheBridgeSpeaksHyphaRpc() {
        noClasses().that().resideInAnyPackage("io.hypha.k8sworker.launcher..", "io.hypha.k8sworker.watcher..",
                        "io.hypha.k8sworker.health..", "io.hypha.k8sworker.leader..", "io.hypha.k8sworker.bus..", "io.hypha.k8sworker.kube..",
                        "io.hypha.k8sworker.config..", "io.hypha.k8sworker.ports..")
                .should().dependOnClassesThat().resideInAPackage("io.hypha.rpc..")
                .because("the hypha-bridge owns the Hypha connection")
                .check(main);
    }
}
