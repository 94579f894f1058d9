package io.overlay.udp;

import static io.overlay.udp.TwoHostUnderlay.SUBNET_A;
import static io.overlay.udp.TwoHostUnderlay.UNDERLAY_A;
import static io.overlay.udp.TwoHostUnderlay.UNDERLAY_B;
import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.Privileged;
import io.overlay.testing.TestPackets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Strict source mode on real packets: B's engine runs with {@code strictSource}, A's without. Both know a third peer
 * C (100.64.3.0/24 at 198.18.0.9, an extra address in A's namespace). Datagrams are crafted whole (outer IPv4 and UDP
 * to port 8285, inner IPv4/UDP with correct checksums) and injected through a raw socket in A's namespace, with inner
 * and outer sources chosen freely, as an attacker on the underlay could.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StrictSourceNamespaceTest {
    private static final Ipv4Prefix SUBNET_C = Ipv4Prefix.parse("100.64.3.0/24");
    private static final String UNDERLAY_C = "198.18.0.9";
    private static final int MTU = 1472;

    private TwoHostUnderlay hosts;
    private EngineHost a;
    private EngineHost b;
    private int raw = -1;

    @BeforeAll
    void setUp() throws Exception {
        hosts = new TwoHostUnderlay();
        hosts.nsA.exec("ip", "addr", "add", UNDERLAY_C + "/24", "dev", "ul0");
        final Peer c = new Peer(Ipv4.parse(UNDERLAY_C), EngineHost.PORT);
        a = hosts.startA(MTU, 1, true, true, Map.of(SUBNET_C, c));
        b = hosts.startB(MTU, 1, true, true, true);
        b.routes.put(SUBNET_C, c);
        raw = RawSockets.open(hosts.nsA.name(), RawSockets.IPPROTO_RAW, 1000);
    }

    @AfterAll
    void tearDown() throws Exception {
        RawSockets.close(raw);
        if (hosts != null) {
            hosts.close();
        }
    }

    /** Sends from {@code outerSrc}:8285 to {@code outerDst}:8285 a datagram holding an inner UDP packet. */
    private void inject(final String outerSrc, final String outerDst, final String innerSrc, final String innerDst)
        throws Exception {
        final byte[] inner = TestPackets.udp(Ipv4.parse(innerSrc), 40000, Ipv4.parse(innerDst), 9, new byte[32]);
        final byte[] outer = TestPackets.udp(Ipv4.parse(outerSrc), EngineHost.PORT, Ipv4.parse(outerDst),
            EngineHost.PORT, inner);
        RawSockets.send(raw, outer, Ipv4.parse(outerDst));
    }

    private static long spoofed(final TrafficCounters before, final TrafficCounters after) {
        return after.drops(DropReason.SPOOFED_SOURCE) - before.drops(DropReason.SPOOFED_SOURCE);
    }

    @Test
    void aStrictHostAcceptsFromAPeerOnlyInnerSourcesInThatPeersSubnet() throws Exception {
        final String bTun = b.tunAddress();
        final TrafficCounters before = b.engine.counters();
        inject(UNDERLAY_A, UNDERLAY_B, "100.64.3.5", bTun); // A claims to be a host of C's subnet
        inject(UNDERLAY_A, UNDERLAY_B, "10.1.2.3", bTun); // a source outside the Network (e.g. masqueraded)
        inject(UNDERLAY_A, UNDERLAY_B, "100.64.9.5", bTun); // a source in nobody's subnet
        inject(UNDERLAY_C, UNDERLAY_B, "100.64.1.5", bTun); // outer source spoofed as C, inner A's
        TrafficCounters after = b.awaitCounters(c -> spoofed(before, c) >= 4);
        assertThat(spoofed(before, after)).isEqualTo(4);
        assertThat(after.udpToTunPackets()).isEqualTo(before.udpToTunPackets());

        // from A, a source inside A's subnet is delivered (A's own TUN address and a container's)
        inject(UNDERLAY_A, UNDERLAY_B, Ipv4.format(SUBNET_A.address()), bTun);
        inject(UNDERLAY_A, UNDERLAY_B, "100.64.1.5", bTun);
        final TrafficCounters mid = after;
        after = b.awaitCounters(c -> c.udpToTunPackets() >= mid.udpToTunPackets() + 2);
        assertThat(after.udpToTunPackets()).isEqualTo(mid.udpToTunPackets() + 2);
        assertThat(spoofed(before, after)).isEqualTo(4);
        // ordinary traffic flows
        assertThat(a.shell("ping -c 2 -i 0.2 -W 2 " + bTun)).contains("2 received");
    }

    @Test
    void withoutStrictSourceTheSameSpoofedPacketsAreDelivered() throws Exception {
        final String aTun = a.tunAddress();
        final TrafficCounters before = a.engine.counters();
        // B is a known sender to A; the raw socket in A's namespace sends to A's own underlay address
        inject(UNDERLAY_B, UNDERLAY_A, "100.64.3.5", aTun);
        inject(UNDERLAY_B, UNDERLAY_A, "10.1.2.3", aTun);
        final TrafficCounters after = a.awaitCounters(c -> c.udpToTunPackets() >= before.udpToTunPackets() + 2);
        assertThat(after.udpToTunPackets()).isEqualTo(before.udpToTunPackets() + 2);
        assertThat(spoofed(before, after)).isZero();
    }
}
