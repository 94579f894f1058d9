package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SIGTERM and SIGINT end OverlayMain with status 0 and "Exiting cleanly", as flanneld, also while start-up still waits
 * for etcd (here: nothing listens on the loopback etcd port of a fresh namespace).
 */
@Privileged
class OverlayMainSignalTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"TERM", "INT"})
    void aTerminationSignalDuringStartUpExitsCleanlyWith0(final String signal) throws Exception {
        final Path log = dir.resolve("overlay.log");
        try (Netns ns = Netns.create()) {
            ns.exec("ip", "link", "set", "lo", "up");
            final Process p = ns.spawn(new ProcessBuilder(java("--etcd-endpoints", "http://127.0.0.1:2379",
                "--iface", "lo", "--subnet-file", dir.resolve("subnet.env").toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()));
            try {
                for (int i = 0; i < 200 && p.isAlive() && !Files.readString(log).contains("starting"); i++) {
                    Thread.sleep(100);
                }
                Thread.sleep(1000); // inside start-up, waiting for etcd
                assertThat(p.isAlive()).as("still waiting for etcd; log: %s", Files.readString(log)).isTrue();
                new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start().waitFor();
                assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("exits within 20 s").isTrue();
                assertThat(p.exitValue()).as("exit status; log: %s", Files.readString(log)).isZero();
                assertThat(Files.readString(log)).contains("SIG" + signal + " received").contains("Exiting cleanly");
            } finally {
                p.destroyForcibly();
            }
        }
    }

    private static List<String> java(final String... args) {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isEmpty()) {
            cp = System.getProperty("java.class.path");
        }
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString(), "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp,
            OverlayMain.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }
}
