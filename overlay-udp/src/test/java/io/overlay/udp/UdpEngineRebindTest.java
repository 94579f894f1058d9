package io.overlay.udp;

import static io.overlay.udp.TwoHostUnderlay.SUBNET_A;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Peer;
import io.overlay.testing.Privileged;
import io.overlay.tun.NetnsThread;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link UdpPacketEngine#rebind} when it cannot finish, on real engines in namespaces (as {@link UdpEngineNamespaceTest}):
 * host A runs 2 loops (a {@code SO_REUSEPORT} group on 8285, loop 1 sending from 8286) and gets a second underlay
 * address 198.18.0.11. A rebind that fails part-way leaves A on its old sockets, forwarding, with nothing left open on
 * the new address; a retry then moves it completely. The per-loop failure is injected with the engine's test hook
 * (a kernel refusing an epoll registration cannot be provoked without changing the host's sysctls); the timeout is
 * real: loop 0 is kept busy past it.
 */
@Privileged
class UdpEngineRebindTest {
    private static final String MOVED = "198.18.0.11";

    private TwoHostUnderlay hosts;
    private EngineHost a;
    private EngineHost b;

    @BeforeEach
    void setUp() throws Exception {
        hosts = new TwoHostUnderlay();
        a = hosts.startA(1472, 2, true, true, Map.of());
        b = hosts.startB(1472, 1, true, true);
        hosts.nsA.exec("ip", "addr", "add", MOVED + "/24", "dev", "ul0");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (hosts != null) {
            hosts.close();
        }
    }

    /** A's UDP sockets bound to {@code address}, as {@code ss} lists them in its namespace. */
    private long socketsOn(final String address) throws Exception {
        return a.shell("ss -H -u -a -n").lines().filter(l -> l.contains(" " + address + ":")).count();
    }

    private void pingFromB() throws Exception {
        assertThat(b.shell("ping -c 2 -i 0.2 -W 2 " + a.tunAddress())).contains("2 received");
    }

    /**
     * Sends {@code count} echo requests from B's subnet to A's TUN as raw datagrams from B's underlay port 8286 to
     * {@code to}:8285: A's source-port steering hands them to its socket 1, so only loop 1 can read them.
     *
     * @return how many of them A wrote to its TUN (waiting up to 5 s for all)
     */
    private long deliveredByLoop1(final String to, final int count) throws Exception {
        final long before = a.engine.counters().udpToTunPackets();
        NetnsThread.call(hosts.nsB.name(), () -> {
            try (DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET)) {
                ch.bind(new InetSocketAddress(TwoHostUnderlay.UNDERLAY_B, EngineHost.PORT + 1));
                for (int i = 0; i < count; i++) {
                    ch.send(ByteBuffer.wrap(echo(b.tunAddress(), a.tunAddress(), i)),
                        new InetSocketAddress(to, EngineHost.PORT));
                }
            }
            return null;
        });
        return a.awaitCounters(c -> c.udpToTunPackets() - before >= count).udpToTunPackets() - before;
    }

    /** A valid 84-byte IPv4 ICMP echo request. */
    private static byte[] echo(final String src, final String dst, final int seq) {
        return io.overlay.testing.TestPackets.icmpEcho(Ipv4.parse(src), Ipv4.parse(dst), seq);
    }

    @Test
    void aRebindThatFailsInALoopLeavesTheOldSocketsWorkingAndARetryMovesAll() throws Exception {
        pingFromB();
        a.engine.sockets.rebindFault = (step, loop) -> {
            if (loop == 1 && step == EngineSockets.RebindStep.REGISTER) {
                throw new IllegalStateException("injected: loop 1 cannot register");
            }
        };
        assertThatThrownBy(() -> a.engine.rebind(Ipv4.parse(MOVED))).isInstanceOf(IOException.class)
            .hasMessageContaining("injected: loop 1 cannot register");
        assertThat(socketsOn(MOVED)).isZero();

        a.engine.sockets.rebindFault = (step, loop) -> {
            if (loop == 1 && step == EngineSockets.RebindStep.SWITCH) {
                throw new IllegalStateException("injected: loop 1 cannot switch");
            }
        };
        assertThatThrownBy(() -> a.engine.rebind(Ipv4.parse(MOVED))).isInstanceOf(IOException.class)
            .hasMessageContaining("injected: loop 1 cannot switch");
        assertThat(socketsOn(MOVED)).as("nothing left open on the new address: %s", a.shell("ss -H -u -a -n"))
            .isZero();
        assertThat(socketsOn(TwoHostUnderlay.UNDERLAY_A)).as("2 receiving sockets and loop 1's send socket")
            .isEqualTo(3);
        pingFromB();

        a.engine.sockets.rebindFault = null;
        a.engine.rebind(Ipv4.parse(MOVED));
        assertThat(socketsOn(MOVED)).as("moved: %s", a.shell("ss -H -u -a -n")).isEqualTo(3);
        assertThat(socketsOn(TwoHostUnderlay.UNDERLAY_A)).isZero();
        b.routes.replaceAll(Map.of(SUBNET_A, new Peer(Ipv4.parse(MOVED), EngineHost.PORT)));
        pingFromB();
    }

    /**
     * The last loop fails just after it took its new sockets (its old registration not yet made edge-triggered): it
     * counts as switched, so the undo puts it back on its old sockets before the new ones are closed; it goes on
     * reading its old socket (no loop left on a closed fd, spinning on an old socket it no longer reads).
     */
    @Test
    void aLoopThatFailsJustAfterTakingItsNewSocketIsPutBack() throws Exception {
        pingFromB();
        assertThat(deliveredByLoop1(TwoHostUnderlay.UNDERLAY_A, 5)).as("loop 1 reads socket 1").isEqualTo(5);
        a.engine.sockets.rebindFault = (step, loop) -> {
            if (loop == 1 && step == EngineSockets.RebindStep.SWITCHED) {
                throw new IllegalStateException("injected: loop 1 failed after its switch");
            }
        };
        assertThatThrownBy(() -> a.engine.rebind(Ipv4.parse(MOVED))).isInstanceOf(IOException.class)
            .hasMessageContaining("injected: loop 1 failed after its switch");
        a.engine.sockets.rebindFault = null;
        assertThat(socketsOn(MOVED)).as("nothing left open on the new address: %s", a.shell("ss -H -u -a -n"))
            .isZero();
        assertThat(socketsOn(TwoHostUnderlay.UNDERLAY_A)).isEqualTo(3);
        assertThat(deliveredByLoop1(TwoHostUnderlay.UNDERLAY_A, 5))
            .as("loop 1 back on its old socket; counters %s", a.engine.counters()).isEqualTo(5);
        pingFromB();

        a.engine.rebind(Ipv4.parse(MOVED));
        assertThat(socketsOn(MOVED)).isEqualTo(3);
        assertThat(deliveredByLoop1(MOVED, 5)).isEqualTo(5);
    }

    /** Makes loop 1 fail just after taking its new sockets, and again when the undo puts it back. */
    private void splitLoop1() {
        a.engine.sockets.rebindFault = (step, loop) -> {
            if (loop == 1 && (step == EngineSockets.RebindStep.SWITCHED || step == EngineSockets.RebindStep.UNDO)) {
                throw new IllegalStateException("injected: loop 1 fails at " + step);
            }
        };
        assertThatThrownBy(() -> a.engine.rebind(Ipv4.parse(MOVED))).isInstanceOf(IOException.class)
            .hasMessageContaining("injected: loop 1 fails at SWITCHED");
        a.engine.sockets.rebindFault = null;
    }

    /**
     * A loop that cannot go back after a failed rebind stays on its new sockets: the engine then owns those (and
     * closes the old ones nothing reads any more), and a rebind to the old address is not taken for a no-op: it moves
     * that loop back too.
     */
    @Test
    void aLoopThatCannotGoBackStaysOnItsNewSocketsAndARebindBackMovesIt() throws Exception {
        pingFromB();
        splitLoop1();
        assertThat(socketsOn(MOVED)).as("loop 1's receiving and send sockets: %s", a.shell("ss -H -u -a -n"))
            .isEqualTo(2);
        assertThat(socketsOn(TwoHostUnderlay.UNDERLAY_A)).as("loop 0's socket only: %s", a.shell("ss -H -u -a -n"))
            .isEqualTo(1);
        assertThat(deliveredByLoop1(MOVED, 5)).as("loop 1 reads its new socket").isEqualTo(5);

        a.engine.rebind(Ipv4.parse(TwoHostUnderlay.UNDERLAY_A));
        assertThat(socketsOn(MOVED)).as("loop 1 moved back: %s", a.shell("ss -H -u -a -n")).isZero();
        assertThat(socketsOn(TwoHostUnderlay.UNDERLAY_A)).isEqualTo(3);
        assertThat(deliveredByLoop1(TwoHostUnderlay.UNDERLAY_A, 5)).isEqualTo(5);
        pingFromB();
    }

    /** The sockets a loop kept after a failed rebind are closed with the engine. */
    @Test
    void closeClosesTheSocketsALoopKeptAfterAFailedRebind() throws Exception {
        splitLoop1();
        a.engine.close();
        assertThat(a.shell("ss -H -u -a -n")).as("nothing left open").doesNotContain(MOVED + ":")
            .doesNotContain(TwoHostUnderlay.UNDERLAY_A + ":");
    }

    /**
     * The kernel refuses {@code UDP_GRO} on loop 1's new socket: the move goes on (loop 1 receives datagram by
     * datagram) and the engine no longer reports GRO in use; every loop's datagrams still reach the TUN.
     */
    @Test
    void groRefusedOnANewSocketIsNoLongerReported() throws Exception {
        assertThat(a.engine.offloads().udpGro()).as("precondition: GRO on at start").isTrue();
        a.engine.sockets.rebindFault = (step, loop) -> {
            if (loop == 1 && step == EngineSockets.RebindStep.ENABLE_GRO) {
                throw new IllegalStateException("injected: UDP_GRO refused");
            }
        };
        a.engine.rebind(Ipv4.parse(MOVED));
        a.engine.sockets.rebindFault = null;
        assertThat(a.engine.offloads().udpGro()).as("loop 1 receives without GRO").isFalse();
        assertThat(deliveredByLoop1(MOVED, 5)).isEqualTo(5);
        b.routes.replaceAll(Map.of(SUBNET_A, new Peer(Ipv4.parse(MOVED), EngineHost.PORT)));
        pingFromB();

        a.engine.rebind(Ipv4.parse(TwoHostUnderlay.UNDERLAY_A));
        assertThat(a.engine.offloads().udpGro()).as("GRO again on the next sockets").isTrue();
    }

    /**
     * Datagrams that reached loop 0's old socket while the loop was busy just before its switch (B still sends to the
     * old address) are read before the loop takes the new socket, not closed away with the old one.
     */
    @Test
    void datagramsQueuedOnTheOldSocketAtTheSwitchAreDelivered() throws Exception {
        pingFromB();
        final long before = a.engine.counters().udpToTunPackets();
        final long[] sent = new long[1];
        a.engine.sockets.rebindFault = (step, loop) -> {
            if (loop == 0 && step == EngineSockets.RebindStep.SWITCH) {
                try { // on loop 0's thread: what B sends now queues on A's old socket 0 (source port 8285)
                    final long b0 = b.engine.counters().tunToUdpPackets();
                    b.shell("ping -c 10 -i 0.02 -W 1 " + a.tunAddress() + " || true");
                    sent[0] = b.engine.counters().tunToUdpPackets() - b0;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        };
        a.engine.rebind(Ipv4.parse(MOVED));
        a.engine.sockets.rebindFault = null;
        assertThat(sent[0]).as("B sent its echo requests to A's old address").isGreaterThanOrEqualTo(10);
        TimeUnit.MILLISECONDS.sleep(300);
        assertThat(a.engine.counters().udpToTunPackets() - before)
            .as("datagrams queued on the old socket delivered to A's TUN; drops %s", a.engine.counters())
            .isGreaterThanOrEqualTo(sent[0]);
        b.routes.replaceAll(Map.of(SUBNET_A, new Peer(Ipv4.parse(MOVED), EngineHost.PORT)));
        pingFromB();
    }

    @Test
    void aRebindWhoseSocketsOpenTooLateLeavesNothingOpen() throws Exception {
        a.engine.sockets.rebindOpenTimeoutMillis = 300;
        a.engine.executor(0).submit(() -> {
            try {
                Thread.sleep(1_000); // loop 0 busy past the timeout
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertThatThrownBy(() -> a.engine.rebind(Ipv4.parse(MOVED))).isInstanceOf(IOException.class)
            .hasMessageContaining("did not finish");
        TimeUnit.MILLISECONDS.sleep(1_500);
        assertThat(socketsOn(MOVED)).as("what loop 0 opened late is closed: %s", a.shell("ss -H -u -a -n"))
            .isZero();
        pingFromB();

        a.engine.rebind(Ipv4.parse(MOVED));
        assertThat(socketsOn(MOVED)).isEqualTo(3);
        assertThat(socketsOn(TwoHostUnderlay.UNDERLAY_A)).isZero();
    }
}
