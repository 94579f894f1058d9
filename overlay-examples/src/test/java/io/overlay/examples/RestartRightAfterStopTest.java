package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An operator's {@code kill <pid>; overlay ...} (or a supervisor that does not wait for the old process): the new agent
 * starts while the old one is still closing its TUN, UDP socket and host rules. It must come up on the same subnet,
 * with one TUN holding the route to the Network, its host rules in place, and forward. The launcher waits up to 10 s
 * for the old one's lock ({@link InstanceLock}); without it the new one failed on the health port the old one still
 * held, or (without a health port) on the UDP port, after taking the lease over.
 */
@Privileged
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RestartRightAfterStopTest {
    @Test
    void anAgentStartedWhileTheOldOneStillClosesComesUpOnTheSameSubnetAndForwards() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.start("e2e-restart-at-once", 2)) {
            final OverlayHosts.Host h2 = overlay.hosts().get(1);
            final String h2Tun = Ipv4.format(h2.subnet().subnet().address());
            final OverlayHosts.Host h1 = overlay.hosts().get(0);
            final String envBefore = Files.readString(h1.subnetEnv());
            final Process old = h1.process();

            // A slow shutdown, made deterministic: the old agent is stopped (SIGSTOP) before its SIGTERM and
            // continued 2 s after the new agent started, so the new one meets everything the old one holds (2 s, not
            // more: the old one must still close within the new one's lock wait, InstanceLock.WAIT, on a busy machine).
            signal("STOP", old);
            final long t0 = System.nanoTime();
            final OverlayHosts.Host again;
            try {
                again = overlay.stopAndStartAtOnce(1);
                Thread.sleep(2000);
                assertThat(again.process().isAlive()).as("the new agent waits for the old one; log:%n%s",
                    Files.readString(overlay.logs().resolve("h1-again.log"))).isTrue();
            } finally {
                signal("CONT", old);
            }
            assertThat(old.waitFor(20, TimeUnit.SECONDS)).as("the old agent exits within 20 s of SIGTERM").isTrue();
            assertThat(old.exitValue()).isZero();
            OverlayHosts.await("/readyz of the new h1", Duration.ofSeconds(30),
                () -> OverlayHosts.readyz(again) == 200 || !again.process().isAlive());
            System.out.printf("ready again %d ms after the SIGTERM%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            final String log = Files.readString(overlay.logs().resolve("h1-again.log"));
            assertThat(again.process().isAlive()).as("the new agent runs; log:%n%s", log).isTrue();
            assertThat(Files.readString(h1.subnetEnv())).isEqualTo(envBefore);

            assertThat(h1.ns().exec("ip", "-o", "link", "show", "type", "tun")).as("one TUN")
                .contains("flannel0:").doesNotContain("flannel1");
            assertThat(h1.ns().exec("ip", "-4", "route", "show", "100.64.0.0/16")).contains("dev flannel0");
            OverlayHosts.awaitSuccess("h1 reaches h2's TUN", Duration.ofSeconds(15), List.of("ip", "netns", "exec",
                h1.ns().name(), "ping", "-c", "1", "-W", "1", "-q", h2Tun));
            // the old agent's clean-up ran before the new agent put its rules in, not after
            assertThat(h1.ns().exec("nft", "-s", "list", "chain", "ip", "filter", "OVERLAY-FWD"))
                .contains("ip saddr 100.64.0.0/16");
            assertThat(Files.readString(overlay.logs().resolve("h1.log"))).as("the old agent's log")
                .doesNotContain("re-put by someone else").contains("Exiting cleanly");
        }
    }

    private static void signal(final String signal, final Process p) throws Exception {
        final Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start();
        assertThat(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0).as("kill -%s", signal).isTrue();
    }
}
