package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.Privileged;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Interop between a host with offloads (A: TUN with IFF_VNET_HDR, TSO super-packets segmented in software, UDP GRO,
 * TCP coalescing) and a host without (B: plain TUN, one datagram per recvmmsg entry, exactly what a flanneld host
 * reads). Namespaces A and B on a veth underlay 198.18.0.1/24 ↔ 198.18.0.2/24 (MTU 1500), overlay 100.64.0.0/16, A
 * owns 100.64.1.0/24, B 100.64.2.0/24, TUN MTU 1472.
 *
 * <p>The wire check: B's engine receives each datagram as the kernel delivers it to a plain UDP socket and validates it
 * as one whole IPv4 packet of at most the MTU; so every datagram A sends while segmenting super-packets must be
 * accepted by B (no malformed/oversized drops, packet counts match).
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OffloadInteropTest {
    private static final int MTU = 1472;
    private static final DropReason[] FORMAT_DROPS = {DropReason.TOO_SHORT, DropReason.BAD_HEADER_LENGTH,
        DropReason.BAD_TOTAL_LENGTH, DropReason.OVERSIZED, DropReason.BAD_VNET_HEADER, DropReason.UNKNOWN_SENDER,
        DropReason.FOREIGN_DESTINATION};

    private TwoHostUnderlay hosts;
    private EngineHost a;
    private EngineHost b;

    @BeforeAll
    void setUp() throws Exception {
        hosts = new TwoHostUnderlay();
        a = hosts.startA(MTU, 1, true, true, Map.of());
        b = hosts.startB(MTU, 1, true, false);
        assertThat(a.tun.vnetHeaderLength()).as("A has offloads").isEqualTo(10);
        assertThat(a.engine.loop(0).offloads()).isTrue();
        assertThat(b.tun.vnetHeaderLength()).as("B is plain").isZero();
        assertThat(b.engine.loop(0).offloads()).isFalse();
    }

    @AfterAll
    void tearDown() throws Exception {
        if (hosts != null) {
            hosts.close();
        }
    }

    @Test
    void eachEngineReportsTheOffloadsItUses() {
        assertThat(a.engine.offloads().tunVnetHeader()).as("A's TUN has a virtio_net_hdr").isTrue();
        assertThat(b.engine.offloads().tunVnetHeader()).as("B's TUN is plain").isFalse();
        assertThat(b.engine.offloads().udpGro()).as("GRO only with TUN offloads").isFalse();
    }

    @Test
    void pingWorksBothWays() throws Exception {
        assertThat(a.shell("ping -c 3 -i 0.2 -W 2 " + b.tunAddress())).contains("3 received").endsWith("rc=0\n");
        assertThat(b.shell("ping -c 3 -i 0.2 -W 2 " + a.tunAddress())).contains("3 received").endsWith("rc=0\n");
    }

    @Test
    void fullMtuDontFragmentPingWorksBothWays() throws Exception {
        final int size = MTU - 28;
        assertThat(a.shell("ping -M do -s " + size + " -c 2 -i 0.2 -W 2 " + b.tunAddress()))
            .contains("2 received").endsWith("rc=0\n");
        assertThat(b.shell("ping -M do -s " + size + " -c 2 -i 0.2 -W 2 " + a.tunAddress()))
            .contains("2 received").endsWith("rc=0\n");
    }

    @Test
    void tcpFromTheOffloadHostIsSegmentedIntoDatagramsThePlainHostAccepts() throws Exception {
        final IperfRun run = iperf("-n 20M", b, Counter.TUN_SUPER_PACKETS);

        assertThat(run.loopCounterOfA()).as("A read TSO super-packets from its TUN").isPositive();
        final long sent = run.afterA().tunToUdpPackets() - run.beforeA().tunToUdpPackets();
        assertThat(sent).as("datagrams A sent").isGreaterThan((15L << 20) / MTU); // iperf3 ends with some in flight
        // every datagram B's plain recvmmsg got was one whole IPv4 packet ≤ MTU (else a format drop below); only a
        // full socket buffer on a loaded machine could lose some before B sees them (TCP then retransmits)
        assertThat(run.afterB().udpToTunPackets() - run.beforeB().udpToTunPackets()).as("accepted by B")
            .isBetween(sent * 9 / 10, sent);
        assertNoFormatDrops("B", run.beforeB(), run.afterB());
        assertNoFormatDrops("A", run.beforeA(), run.afterA());
    }

    @Test
    void smallMssTcpFromTheOffloadHostIsNeverCutIntoMoreSegmentsThanTheEngineHolds() throws Exception {
        // MSS 300: a 64 KiB super-packet would be ~220 segments; the TUN's gso_max_segs (TunDevice.MAX_GSO_SEGMENTS)
        // makes the kernel build none larger than the engine's segmentation batch, so nothing is dropped whole
        final IperfRun run = iperf("-M 300 -n 4M", b, Counter.TUN_SUPER_PACKETS);

        assertThat(run.loopCounterOfA()).as("A read TSO super-packets from its TUN").isPositive();
        assertThat(run.afterA().drops(DropReason.BAD_VNET_HEADER) - run.beforeA().drops(DropReason.BAD_VNET_HEADER))
            .as("super-packets A refused").isZero();
        assertNoFormatDrops("B", run.beforeB(), run.afterB());
    }

    @Test
    void tcpFromThePlainHostIsCoalescedIntoSuperPacketsOnTheOffloadHost() throws Exception {
        final IperfRun run = iperf("-R -n 20M", a, Counter.TUN_COALESCED_FRAMES);

        assertThat(run.loopCounterOfA()).as("A wrote coalesced super-packets to its TUN").isPositive();
        assertThat(run.afterA().udpToTunBytes() - run.beforeA().udpToTunBytes()).isGreaterThan(15L << 20);
        final long sent = run.afterB().tunToUdpPackets() - run.beforeB().tunToUdpPackets();
        assertThat(run.afterA().udpToTunPackets() - run.beforeA().udpToTunPackets()).isBetween(sent * 9 / 10, sent);
        assertNoFormatDrops("A", run.beforeA(), run.afterA());
    }

    /** Asserts that {@code host} counted none of the {@link #FORMAT_DROPS} between the two snapshots. */
    private static void assertNoFormatDrops(final String host, final TrafficCounters before,
                                            final TrafficCounters after) {
        for (DropReason r : FORMAT_DROPS) {
            assertThat(after.drops(r) - before.drops(r)).as("%s drops %s", host, r).isZero();
        }
    }

    /** Waits until {@code host}'s receive counters stop moving (at most 5 s); returns them. */
    private static TrafficCounters quiet(final EngineHost host) throws InterruptedException {
        TrafficCounters last = host.engine.counters();
        for (int i = 0; i < 50; i++) {
            Thread.sleep(100);
            final TrafficCounters now = host.engine.counters();
            if (now.udpToTunPackets() == last.udpToTunPackets() && now.tunToUdpPackets() == last.tunToUdpPackets()) {
                return now;
            }
            last = now;
        }
        return last;
    }

    /**
     * Both hosts' counters before and after one iperf3 run, and how much A's loop counter {@code loopCounter} (a
     * {@link LoopCounters} index) grew during it.
     */
    private record IperfRun(TrafficCounters beforeA, TrafficCounters afterA, TrafficCounters beforeB,
                            TrafficCounters afterB, long loopCounterOfA) {
    }

    /**
     * Runs a bounded iperf3 TCP test, client in A, server in B ({@code -R}: B sends), then waits until
     * {@code receiver}'s counters are {@linkplain #quiet quiet} before taking the after-snapshots.
     */
    private IperfRun iperf(final String args, final EngineHost receiver, final Counter loopCounter) throws Exception {
        final TrafficCounters beforeA = a.engine.counters();
        final TrafficCounters beforeB = b.engine.counters();
        final long loopBefore = a.engine.loop(0).counters().get(loopCounter);
        hosts.iperf(5203, args);
        quiet(receiver);
        return new IperfRun(beforeA, a.engine.counters(), beforeB, b.engine.counters(),
            a.engine.loop(0).counters().get(loopCounter) - loopBefore);
    }
}
