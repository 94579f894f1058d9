package io.overlay.udp;

import static io.overlay.udp.TwoHostUnderlay.NETWORK;
import static io.overlay.udp.TwoHostUnderlay.SUBNET_A;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.EngineSettings;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.Privileged;
import io.overlay.testing.TestPackets;
import io.overlay.tun.NetnsThread;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Two hosts as in {@link UdpEngineNamespaceTest}, each engine with 2 event loops: a 2-queue TUN
 * ({@code IFF_MULTI_QUEUE}) and two UDP sockets sharing port 8285 through {@code SO_REUSEPORT}. B accepts datagrams
 * from any sender ({@code acceptOnlyKnownPeers} off, as behind NAT). Loop 1 sends from port 8286, and the receiving
 * group picks its socket by source port, so both of B's loops receive.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UdpEngineMultiQueueTest {
    private TwoHostUnderlay hosts;
    private EngineHost a;
    private EngineHost b;

    @BeforeAll
    void setUp() throws Exception {
        hosts = new TwoHostUnderlay();
        a = hosts.startA(1472, 2, true, true, Map.of());
        hosts.nsA.exec("ip", "addr", "add", "198.18.0.9/24", "dev", "ul0"); // not a peer of B
        b = hosts.startB(1472, 2, false, true); // NAT setup
    }

    @AfterAll
    void tearDown() throws Exception {
        if (hosts != null) {
            hosts.close();
        }
    }

    @Test
    void twoSocketsShareThePortAndTheTunHasTwoQueues() throws Exception {
        assertThat(a.tun.queueCount()).isEqualTo(2);
        final String sockets = a.shell("ss -H -u -l -n 'sport = :8285'");
        assertThat(sockets.lines().filter(l -> l.contains("198.18.0.1:8285")).count()).isEqualTo(2);
    }

    @Test
    void aSingleLoopEngineCannotUseATwoQueueDevice() {
        final EngineSettings oneLoop = new EngineSettings(Ipv4.parse("198.18.0.1"), EngineHost.PORT, NETWORK,
            SUBNET_A, 1472, true, 1);
        assertThatThrownBy(() -> new UdpPacketEngine(oneLoop, a.tun, a.routes))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("has 2 queue(s) but the engine is set up for 1 loop(s)");
    }

    @Test
    void withKnownPeersCheckOffAnUnknownSenderIsDelivered() throws Exception {
        final DatagramChannel unknown = NetnsThread.call(hosts.nsA.name(),
            () -> DatagramChannel.open(StandardProtocolFamily.INET)
                .bind(new InetSocketAddress("198.18.0.9", 0)));
        try {
            final TrafficCounters before = b.engine.counters();
            // An ICMP echo request 100.64.1.0 -> 100.64.2.0 (B's TUN), TTL 64, valid checksums.
            final ByteBuffer p = ByteBuffer.wrap(
                TestPackets.icmpEcho(Ipv4.parse("100.64.1.0"), Ipv4.parse("100.64.2.0"), 0, 0, 28));
            unknown.send(p, new InetSocketAddress("198.18.0.2", EngineHost.PORT));
            final TrafficCounters after =
                b.awaitCounters(c -> c.udpToTunPackets() > before.udpToTunPackets());
            assertThat(after.udpToTunPackets()).isEqualTo(before.udpToTunPackets() + 1);
            assertThat(after.drops(DropReason.UNKNOWN_SENDER)).isZero();
        } finally {
            unknown.close();
        }
    }

    @Test
    void eachLoopSendsFromItsOwnPortAndTheReceiverSteersByIt() throws Exception {
        final long[] before = {loopPackets(b, 0), loopPackets(b, 1)};
        final long[] sentBefore = {loopSent(a, 0), loopSent(a, 1)};
        assertThat(hosts.iperf(5204, "-P 8 -n 40M")).contains("[SUM]");
        final boolean bothSent = loopSent(a, 0) > sentBefore[0] && loopSent(a, 1) > sentBefore[1];
        assertThat(bothSent).as("8 flows through A's 2-queue TUN use both of A's loops").isTrue();
        // steered by source port: A's loop 0 (8285) lands on B's socket 0, loop 1 (8286) on socket 1
        assertThat(loopPackets(b, 0) - before[0]).as("datagrams B's loop 0 received").isGreaterThan(1000);
        assertThat(loopPackets(b, 1) - before[1]).as("datagrams B's loop 1 received").isGreaterThan(1000);
        assertThat(b.engine.counters().totalDrops()).isZero();
        // loop 1 of A sends from 8286 (bound, not polled: peers send to 8285); loop 0 from flannel's 8285
        assertThat(a.shell("ss -H -u -a -n 'sport = :8286'")).contains("198.18.0.1:8286");
    }

    private static long loopPackets(final EngineHost host, final int loop) {
        return host.engine.loop(loop).counters().get(io.overlay.core.spi.Counter.UDP_TO_TUN_PACKETS);
    }

    private static long loopSent(final EngineHost host, final int loop) {
        return host.engine.loop(loop).counters().get(io.overlay.core.spi.Counter.TUN_TO_UDP_PACKETS);
    }

    @Test
    void pingAndParallelTcpWorkOverTwoLoops() throws Exception {
        assertThat(a.shell("ping -c 3 -i 0.2 -W 2 " + b.tunAddress())).contains("3 received");
        assertThat(b.shell("ping -c 3 -i 0.2 -W 2 " + a.tunAddress())).contains("3 received");
        assertThat(hosts.iperf(5203, "-P 4 -n 20M")).contains("[SUM]");
        assertThat(a.engine.counters().totalDrops()).isZero();
        assertThat(b.engine.counters().totalDrops()).isZero();
    }
}
