package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Timeout;

/**
 * SIGTERM just after the launcher took its instance lock and logged "starting", while it starts the health server
 * (the first HTTP server of a JVM takes a few hundred ms to come up): exit 0 with "Exiting cleanly", as at every other
 * point of start-up, and nothing left behind. The launcher used to put the JVM's own handlers back between the lock
 * and the run, so a stop there ended the JVM with 143, which {@code systemctl stop} reports as a failed unit.
 */
@Privileged
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SigtermRightAfterTheLockTest {
    @RepeatedTest(3)
    void sigtermRightAfterStartingExits0AndLeavesNothing() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-sigterm-after-lock")) {
            final Netns ns = overlay.underlayHost(1, 1500);
            final String rulesBefore = ns.exec("nft", "-s", "list", "ruleset");
            final Path subnetEnv = overlay.dir().resolve("h1").resolve("subnet.env");
            final Path log = overlay.logs().resolve("h1.log");
            Files.deleteIfExists(log);
            final Process p = ns.spawn(new ProcessBuilder(OverlayHosts.java(OverlayMain.class.getName(),
                "--etcd-endpoints", OverlayHosts.ETCD, "--iface", "eth0", "--subnet-file", subnetEnv.toString(),
                "--ip-masq", "--healthz-ip", "127.0.0.1", "--healthz-port", Integer.toString(OverlayHosts.HEALTH_PORT)))
                .redirectErrorStream(true).redirectOutput(log.toFile()));
            try {
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (p.isAlive() && System.nanoTime() < deadline
                    && !(Files.exists(log) && Files.readString(log).contains(" starting"))) {
                    Thread.sleep(5);
                }
                final String before = Files.readString(log);
                assertThat(before).as("logged 'starting', not yet serving").contains(" starting")
                    .doesNotContain("Serving");
                p.destroy(); // SIGTERM
                assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("exits within 20 s of SIGTERM").isTrue();
                final String out = Files.readString(log);
                System.out.printf("exit %d; log:%n%s", p.exitValue(), out);
                assertThat(p.exitValue()).as("exit status; log:%n%s", out).isZero();
                assertThat(out).contains("SIGTERM received").contains("Exiting cleanly").doesNotContain(" ERROR ");
                assertThat(ns.exec("ip", "-o", "link", "show", "type", "tun")).as("no TUN").isEmpty();
                assertThat(ns.exec("nft", "-s", "list", "ruleset")).as("no host rules").isEqualTo(rulesBefore);
                assertThat(subnetEnv).doesNotExist();
            } finally {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
