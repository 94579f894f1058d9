package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * JNA's native library cannot be loaded (no system copy, unpacking from the jar refused, a boot path that does not
 * exist: what a host with a noexec {@code /tmp} and no {@code libjna-jni} meets). The launcher's preload thread is
 * the first to fail on it, so the start's own use meets {@code NoClassDefFoundError: Could not initialize class}; the
 * launcher must still exit 1 through its orderly stop, with one ERROR line that names the first error (JNA's
 * message), and no uncaught exception.
 */
@Privileged
@org.junit.jupiter.api.Timeout(value = 120, unit = TimeUnit.SECONDS)
class NativeLibraryMissingTest {
    @Test
    void theLauncherExits1NamingJnasError() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-no-jna")) {
            final Netns ns = overlay.underlayHost(1, 1500);
            final Path subnetEnv = overlay.dir().resolve("subnet.env");
            final List<String> cmd = OverlayHosts.java(OverlayMain.class.getName(), "--etcd-endpoints",
                OverlayHosts.ETCD, "--iface", "eth0", "--subnet-file", subnetEnv.toString());
            // JVM options before the class path: JNA finds no library anywhere
            cmd.addAll(1, List.of("-Djna.nosys=true", "-Djna.nounpack=true", "-Djna.boot.library.path=/nonexistent"));
            final Path log = overlay.logs().resolve("h1.log");
            final Process p = ns.spawn(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()));
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the launcher exits within 60 s").isTrue();
            final String out = Files.readString(log);
            assertThat(p.exitValue()).as("exit status; log:%n%s", out).isEqualTo(OverlayMain.FAILED);
            assertThat(out).as("no uncaught exception; log:%n%s", out).doesNotContain("Exception in thread");
            assertThat(out.lines().filter(l -> l.contains(" ERROR ")).toList()).as("log:%n%s", out)
                .anyMatch(l -> l.contains("Start-up failed: a class or native library could not be loaded")
                    && l.contains("UnsatisfiedLinkError") && l.contains("JNA"));
            assertThat(Files.exists(subnetEnv)).as("no subnet.env").isFalse();
            assertThat(ns.exec("ip", "-o", "link", "show", "type", "tun")).as("no TUN left").isEmpty();
        }
    }

    /**
     * The directory the native libraries are unpacked into is a noexec tmpfs (mounted in a mount namespace of the
     * launcher's own, as java.io.tmpdir and XDG_CACHE_HOME): the kernel refuses to map them, and the one ERROR line
     * says so and what to do.
     */
    @Test
    void aNoexecUnpackDirectoryIsNamedWithWhatToDo() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-noexec")) {
            final Netns ns = overlay.underlayHost(1, 1500);
            final Path noexec = Files.createDirectory(overlay.dir().resolve("noexec"));
            final List<String> java = OverlayHosts.java(OverlayMain.class.getName(), "--etcd-endpoints",
                OverlayHosts.ETCD, "--iface", "eth0", "--subnet-file", overlay.dir().resolve("subnet.env").toString());
            java.add(1, "-Djava.io.tmpdir=" + noexec);
            final List<String> cmd = new java.util.ArrayList<>(List.of("unshare", "-m", "sh", "-c",
                "mount -t tmpfs -o noexec,nosuid,nodev tmpfs \"$1\" && shift && exec env XDG_CACHE_HOME=\"$0\" \"$@\"",
                noexec.toString(), noexec.toString()));
            cmd.addAll(java);
            final Path log = overlay.logs().resolve("h1.log");
            final Process p = ns.spawn(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()));
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the launcher exits within 60 s").isTrue();
            final String out = Files.readString(log);
            assertThat(p.exitValue()).as("exit status; log:%n%s", out).isEqualTo(OverlayMain.FAILED);
            assertThat(out.lines().filter(l -> l.contains(" ERROR ")).toList()).as("log:%n%s", out)
                .anyMatch(l -> l.contains("failed to map segment from shared object")
                    && l.contains("does not allow execution (mounted noexec") && l.contains("OVERLAY_NATIVE_DIR"));
        }
    }
}
