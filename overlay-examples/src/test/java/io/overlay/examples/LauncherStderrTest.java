package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code overlay --version} as a process of its own prints its version and nothing on stderr, every time. The
 * overlay-preload thread reaches Netty (which logs through SLF4J) while the main thread may still be initialising
 * SLF4J; SLF4J then hands the preload substitute loggers and, once bound, prints "SLF4J(W): A number (N) of logging
 * calls during the initialization phase have been intercepted and are now being replayed" on stderr. A race: the
 * launches are repeated (bounded: 30, each within 30 s) and the test stops at the first one with stderr output.
 */
class LauncherStderrTest {
    private static final int LAUNCHES = 30;

    @TempDir
    Path dir;

    @Test
    void versionPrintsNothingOnStderr() throws Exception {
        final Path out = dir.resolve("out");
        final Path err = dir.resolve("err");
        for (int i = 0; i < LAUNCHES; i++) {
            final Process p = new ProcessBuilder(OverlayHosts.java(OverlayMain.class.getName(), "--version"))
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            try {
                assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("launch %d ends within 30 s", i).isTrue();
            } finally {
                p.destroyForcibly();
            }
            assertThat(p.exitValue()).as("exit status of launch %d", i).isZero();
            assertThat(Files.readString(out)).as("stdout of launch %d", i).startsWith("overlay ");
            assertThat(Files.readString(err)).as("stderr of launch %d of %d", i, LAUNCHES).isEmpty();
        }
    }
}
