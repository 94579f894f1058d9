package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.testing.Privileged;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The underlay interface of a running host goes down and comes back, then loses its address and gets it back (a
 * DHCP renew): the agent keeps running, traffic both ways resumes once the interface is back, and the packets that
 * could not be sent meanwhile are counted ({@code overlay_drops_total{reason="send_failed"}}). A new address (which
 * overlay follows, flanneld does not) is {@link PublicIpChangeTest}'s.
 */
@Privileged
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class UnderlayFlapTest {
    private static final String SEND_FAILED = "overlay_drops_total{reason=\"send_failed\"}";

    @Test
    void trafficResumesAfterTheUnderlayLinkAndItsAddressComeBack() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.start("e2e-underlay-flap", 2)) {
            final OverlayHosts.Host h1 = overlay.hosts().get(0);
            final OverlayHosts.Host h2 = overlay.hosts().get(1);
            final String tun1 = Ipv4.format(h1.subnet().subnet().address());
            final String tun2 = Ipv4.format(h2.subnet().subnet().address());
            awaitBothWays(h1, tun1, h2, tun2);

            // 1. link down for 3 s while h1 sends
            double failedBefore = metric(h1, SEND_FAILED);
            h1.ns().exec("ip", "link", "set", "eth0", "down");
            ping(h1, tun2, 10);
            h1.ns().exec("ip", "link", "set", "eth0", "up");
            long t0 = System.nanoTime();
            awaitBothWays(h1, tun1, h2, tun2);
            System.out.printf("link down/up: both ways again %d ms after up%n", ms(t0));
            assertThat(h1.process().isAlive()).isTrue();
            assertThat(metric(h1, SEND_FAILED)).as("what could not be sent is counted").isGreaterThan(failedBefore);
            OverlayHosts.await("h1 ready", Duration.ofSeconds(20), () -> OverlayHosts.readyz(h1) == 200);

            // 2. the address goes and comes back (DHCP renew)
            failedBefore = metric(h1, SEND_FAILED);
            h1.ns().exec("ip", "addr", "del", "198.18.0.1/24", "dev", "eth0");
            ping(h1, tun2, 10);
            h1.ns().exec("ip", "addr", "add", "198.18.0.1/24", "dev", "eth0");
            t0 = System.nanoTime();
            awaitBothWays(h1, tun1, h2, tun2);
            System.out.printf("address del/add: both ways again %d ms after add%n", ms(t0));
            assertThat(h1.process().isAlive()).isTrue();
            assertThat(metric(h1, SEND_FAILED)).as("what could not be sent is counted").isGreaterThan(failedBefore);
            OverlayHosts.await("h1 ready", Duration.ofSeconds(20), () -> OverlayHosts.readyz(h1) == 200);
        }
    }

    private static void awaitBothWays(final OverlayHosts.Host a, final String tunA, final OverlayHosts.Host b,
                                      final String tunB) throws Exception {
        OverlayHosts.await("h" + a.n() + " <-> h" + b.n(), Duration.ofSeconds(30),
            () -> ping(a, tunB, 1) == 0 && ping(b, tunA, 1) == 0);
    }

    /** Pings {@code count} times, 0.2 s apart, each waiting at most 1 s; ping's exit status. */
    private static int ping(final OverlayHosts.Host from, final String to, final int count) throws Exception {
        return (int) OverlayHosts.runIn(from, Duration.ofSeconds(count + 5L), "ping", "-c", Integer.toString(count),
            "-i", "0.2", "-W", "1", "-q", to)[0];
    }

    private static double metric(final OverlayHosts.Host h, final String series) throws Exception {
        final Map<String, Double> m = OverlayHosts.metrics(h);
        return m.getOrDefault(series, 0.0);
    }

    private static long ms(final long t0) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }
}
