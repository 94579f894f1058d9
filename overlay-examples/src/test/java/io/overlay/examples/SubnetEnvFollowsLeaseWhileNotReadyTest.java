package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A lease lost and re-acquired as another subnet while the host is held not ready (here: a network config change only
 * a restart applies) moves the TUN, the engine and the host rules to the new subnet; {@code subnet.env} must follow at
 * once, not only when the host turns ready again. Otherwise it keeps naming the old subnet, which another host now
 * holds (containers started from it would take that host's addresses), and the restart the agent asks for is refused
 * with status 1 until the new lease expires (24 h): its key carries this host's PublicIP, but nothing on the host shows
 * that it is this host's.
 */
@Privileged
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SubnetEnvFollowsLeaseWhileNotReadyTest {
    private static final Pattern TUN_ADDRESS = Pattern.compile("inet (100\\.64\\.\\d+\\.0)/32");

    @Test
    void aSubnetReacquiredWhileNotReadyIsWrittenAtOnceAndKeptByTheRestart() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.start("e2e-subnet-env-follows-lease", 1)) {
            final OverlayHosts.Host h = overlay.hosts().get(0);
            final Ipv4Prefix before = h.subnet().subnet();
            // a change only a restart applies: the host is held not ready from here on
            overlay.etcdctl("put", "/coreos.com/network/config",
                "{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\",\"Port\":8286}}");
            OverlayHosts.await("not ready (restart needed)", Duration.ofSeconds(30),
                () -> OverlayHosts.readyz(overlay.hosts().get(0)) == 503);
            // another host takes the subnet over: h1 loses its lease and re-acquires another subnet
            overlay.etcdctl("put", "/coreos.com/network/subnets/" + key(before), "{\"PublicIP\":\"198.18.0.77\"}");
            final String[] tun = {null};
            OverlayHosts.await("TUN moved off " + before, Duration.ofSeconds(30), () -> {
                final Matcher m = TUN_ADDRESS.matcher(h.ns().exec("ip", "-o", "-4", "addr", "show", "dev", "flannel0"));
                tun[0] = m.find() ? m.group(1) : null;
                return tun[0] != null && !before.toString().startsWith(tun[0] + "/");
            });
            final Ipv4Prefix after = Ipv4Prefix.parse(tun[0] + "/24");
            assertThat(overlay.etcdctl("get", "/coreos.com/network/subnets/" + key(after), "--print-value-only"))
                .as("the new lease is h1's").contains("\"PublicIP\":\"198.18.0.1\"");
            final long t0 = System.nanoTime();
            try {
                OverlayHosts.await("subnet.env names " + after, Duration.ofSeconds(10),
                    () -> h.subnet().subnet().equals(after));
            } catch (Exception | AssertionError e) {
                System.out.printf("subnet.env after 10 s: %s (TUN and engine on %s)%n", h.subnet().subnet(), after);
                throw e;
            }
            System.out.printf("subnet.env moved from %s to %s in %d ms while not ready%n", before, after,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            assertThat(OverlayHosts.readyz(h)).as("still held not ready by the config change").isEqualTo(503);

            // the restart the agent asks for ("restart needed") comes up on the lease it holds
            final OverlayHosts.Host restarted = overlay.restart(1);
            OverlayHosts.await("restarted h1 ready", Duration.ofSeconds(60),
                () -> !restarted.process().isAlive() || OverlayHosts.readyz(restarted) == 200);
            assertThat(restarted.process().isAlive()).as("restarted agent runs; log:%n%s",
                Files.readString(overlay.logs().resolve("h1.log"))).isTrue();
            assertThat(restarted.subnet().subnet()).as("same subnet after the restart").isEqualTo(after);
        }
    }

    private static String key(final Ipv4Prefix subnet) {
        return subnet.toString().replace('/', '-');
    }
}
