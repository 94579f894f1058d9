package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Privileged;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A running host's underlay address changes (DHCP renumbering, a cloud VM's private IP changed, an administrator
 * re-addressing eth0), with real etcd and real {@link OverlayMain} processes in network namespaces.
 *
 * <ul>
 *   <li>h1 chose its PublicIP from {@code --iface eth0}: when 198.18.0.1 is replaced by 198.18.0.11 the agent keeps its
 *       subnet, rewrites its lease value in place (same key, same etcd lease, flannel's JSON), rebinds its UDP socket,
 *       stays ready, and pings across the overlay resume within seconds in both directions without a restart. With no
 *       address left it is not ready, naming the address, and ready again once one is back. A later restart reuses
 *       the subnet.</li>
 *   <li>h2 was given {@code --public-ip 198.18.0.2}: when that address goes away it is not ready, naming it, and does
 *       not advertise another one; it recovers when the address comes back.</li>
 * </ul>
 * flanneld (and overlay before this) kept advertising the old address until restarted: every peer sent to a dead
 * address while {@code /readyz} said ready.
 */
@Privileged
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class PublicIpChangeTest {
    private static final Pattern LEASE_ID = Pattern.compile("\"lease\":(\\d+)");

    @Test
    void anAutoDetectedPublicIpFollowsTheNewAddressInPlace() throws Exception {
        // h1 runs two packet loops: both receiving sockets (one SO_REUSEPORT group) and the second send port move
        try (OverlayHosts overlay = OverlayHosts.start("e2e-public-ip-follow", 2,
            h -> h == 1 ? List.of("--loops", "2") : List.of())) {
            final OverlayHosts.Host h1 = overlay.hosts().get(0);
            final OverlayHosts.Host h2 = overlay.hosts().get(1);
            final String tun1 = OverlayHosts.tunAddress(h1);
            final String tun2 = OverlayHosts.tunAddress(h2);
            final String key1 = key(h1);
            awaitBothWays(h1, tun1, h2, tun2, Duration.ofSeconds(30));
            final String env1 = Files.readString(h1.subnetEnv());
            final long etcdLease1 = etcdLease(overlay, key1);

            // 1. h1 is re-addressed: the old address goes, a new one comes on the same interface. Up to ~15 s: h1's
            // own etcd connection ran from the old address and is found dead by gRPC's keepalive (10 s + 5 s).
            h1.ns().exec("ip", "addr", "del", "198.18.0.1/24", "dev", "eth0");
            h1.ns().exec("ip", "addr", "add", "198.18.0.11/24", "dev", "eth0");
            final long t0 = System.nanoTime();
            awaitBothWays(h1, tun1, h2, tun2, Duration.ofSeconds(30));
            System.out.printf("re-addressed 198.18.0.1 -> 198.18.0.11: both ways again %d ms later%n", ms(t0));
            assertThat(value(overlay, key1)).as("h1's lease value, rewritten in place")
                .isEqualTo("{\"PublicIP\":\"198.18.0.11\",\"PublicIPv6\":null}");
            assertThat(etcdLease(overlay, key1)).as("h1's key stays on its etcd lease").isEqualTo(etcdLease1);
            assertThat(Files.readString(h1.subnetEnv())).as("subnet.env: the subnet and MTU are kept").isEqualTo(env1);
            OverlayHosts.await("h1 ready", Duration.ofSeconds(10), () -> OverlayHosts.readyz(h1) == 200);
            final String log1 = Files.readString(overlay.logs().resolve("h1.log"));
            assertThat(log1).as("h1 says what happened at WARN")
                .containsPattern("WARN .*198\\.18\\.0\\.1 to 198\\.18\\.0\\.11 in place")
                .doesNotContain("lost");
            assertThat(OverlayHosts.get(h2, "/status")).as("h2 routes h1's subnet to the new address")
                .contains("198.18.0.11");

            // 2. h1's address goes with nothing in its place: not ready, naming the address; ready once it is back
            h1.ns().exec("ip", "addr", "del", "198.18.0.11/24", "dev", "eth0");
            OverlayHosts.await("h1 not ready", Duration.ofSeconds(10), () -> OverlayHosts.readyz(h1) == 503);
            assertThat(readyzBody(h1)).startsWith("not-ready").contains("198.18.0.11");
            assertThat(value(overlay, key1)).contains("198.18.0.11");
            h1.ns().exec("ip", "addr", "add", "198.18.0.11/24", "dev", "eth0");
            OverlayHosts.await("h1 ready again", Duration.ofSeconds(10), () -> OverlayHosts.readyz(h1) == 200);
            awaitBothWays(h1, tun1, h2, tun2, Duration.ofSeconds(30));

            // 3. h1 restarted (SIGKILL, same options) comes back on the same subnet, under its new PublicIP
            final OverlayHosts.Host again = overlay.restart(1);
            OverlayHosts.await("restarted h1 ready", Duration.ofSeconds(60),
                () -> OverlayHosts.readyz(again) == 200 || !again.process().isAlive());
            assertThat(again.process().isAlive()).isTrue();
            assertThat(Files.readString(again.subnetEnv())).isEqualTo(env1);
            assertThat(value(overlay, key1)).isEqualTo("{\"PublicIP\":\"198.18.0.11\",\"PublicIPv6\":null}");
            awaitBothWays(again, tun1, h2, tun2, Duration.ofSeconds(30));
        }
    }

    @Test
    void anExplicitPublicIpThatDisappearsTurnsTheHostNotReady() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.start("e2e-public-ip-explicit", 2,
            h -> h == 2 ? List.of("--public-ip", "198.18.0.2") : List.of())) {
            final OverlayHosts.Host h1 = overlay.hosts().get(0);
            final OverlayHosts.Host h2 = overlay.hosts().get(1);
            final String tun1 = OverlayHosts.tunAddress(h1);
            final String tun2 = OverlayHosts.tunAddress(h2);
            final String key2 = key(h2);
            awaitBothWays(h1, tun1, h2, tun2, Duration.ofSeconds(30));

            h2.ns().exec("ip", "addr", "del", "198.18.0.2/24", "dev", "eth0");
            h2.ns().exec("ip", "addr", "add", "198.18.0.12/24", "dev", "eth0");
            OverlayHosts.await("h2 not ready", Duration.ofSeconds(10), () -> OverlayHosts.readyz(h2) == 503);
            assertThat(readyzBody(h2)).startsWith("not-ready").contains("198.18.0.2 ");
            Thread.sleep(2000);
            assertThat(value(overlay, key2)).as("an explicit --public-ip is never replaced")
                .isEqualTo("{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}");
            assertThat(OverlayHosts.readyz(h2)).isEqualTo(503);

            h2.ns().exec("ip", "addr", "del", "198.18.0.12/24", "dev", "eth0");
            h2.ns().exec("ip", "addr", "add", "198.18.0.2/24", "dev", "eth0");
            OverlayHosts.await("h2 ready again", Duration.ofSeconds(10), () -> OverlayHosts.readyz(h2) == 200);
            awaitBothWays(h1, tun1, h2, tun2, Duration.ofSeconds(30));
        }
    }

    private static String key(final OverlayHosts.Host h) throws IOException {
        return "/coreos.com/network/subnets/" + h.subnet().subnet().toString().replace('/', '-');
    }

    private static String value(final OverlayHosts overlay, final String key) throws IOException {
        return overlay.etcdctl("get", key, "--print-value-only").strip();
    }

    private static long etcdLease(final OverlayHosts overlay, final String key) throws IOException {
        final String json = overlay.etcdctl("get", key, "-w", "json");
        final Matcher m = LEASE_ID.matcher(json);
        assertThat(m.find()).as("an etcd lease on %s: %s", key, json).isTrue();
        return Long.parseLong(m.group(1));
    }

    /** The body of /readyz, 200 or not, from inside the host's namespace. */
    private static String readyzBody(final OverlayHosts.Host host) throws Exception {
        return io.overlay.tun.NetnsThread.call(host.ns().name(), () -> {
            final HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + OverlayHosts.HEALTH_PORT
                + "/readyz").openConnection(java.net.Proxy.NO_PROXY);
            c.setConnectTimeout(1000);
            c.setReadTimeout(2000);
            c.setRequestProperty("Connection", "close");
            try {
                final InputStream in = c.getResponseCode() == 200 ? c.getInputStream() : c.getErrorStream();
                return in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } finally {
                c.disconnect();
            }
        });
    }

    private static void awaitBothWays(final OverlayHosts.Host a, final String tunA, final OverlayHosts.Host b,
                                      final String tunB, final Duration timeout) throws Exception {
        OverlayHosts.await("h" + a.n() + " <-> h" + b.n(), timeout, () -> ping(a, tunB) == 0 && ping(b, tunA) == 0);
    }

    private static int ping(final OverlayHosts.Host from, final String to) throws Exception {
        return (int) OverlayHosts.runIn(from, Duration.ofSeconds(6), "ping", "-c", "1", "-W", "1", "-q", to)[0];
    }

    private static long ms(final long t0) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }
}
