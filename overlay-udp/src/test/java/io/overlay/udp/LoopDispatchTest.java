package io.overlay.udp;

import static io.overlay.testing.TestLibc.MSG_DONTWAIT;
import static io.overlay.testing.TestLibc.MSG_PEEK;
import static io.overlay.testing.TestLibc.SK_MEMINFO_DROPS;
import static io.overlay.testing.TestLibc.SK_MEMINFO_RMEM_ALLOC;
import static io.overlay.testing.TestLibc.SOL_SOCKET;
import static io.overlay.testing.TestLibc.SO_MEMINFO;
import static io.overlay.testing.TestLibc.SO_RCVBUF;
import static io.overlay.testing.TestLibc.SO_SNDBUF;
import static io.overlay.testing.TestLibc.SO_SNDBUFFORCE;
import static io.overlay.udp.ForwardingLoop.MAX_ROUNDS;
import static org.assertj.core.api.Assertions.assertThat;

import com.sun.jna.Native;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.EngineTuning;
import io.overlay.testing.SocketPairTun;
import io.overlay.testing.TestLibc;
import io.overlay.testing.TestPackets;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The per-fd dispatch of one {@link ForwardingLoop}: {@link ForwardingLoop#onTunReadable()} serves only the TUN and
 * {@link ForwardingLoop#onUdpReadable()} only the UDP socket; each repeats passes of {@code BATCH}
 * packets while the last pass was full, at most {@link ForwardingLoop#MAX_ROUNDS} passes per call (the fairness bound:
 * the loop then returns to epoll, and the other fd and the loop's tasks get their turn).
 *
 * <p>Set-up as in {@link OffloadLoopTest}, for a plain loop (no virtio header, no GRO, no GSO: one datagram per packet):
 * the "TUN" is a {@link SocketPairTun}, one end of a non-blocking {@code AF_UNIX} socket pair (one packet per read,
 * EAGAIN when empty; the test plays the kernel on the other end), the peer for 100.64.2.0/24 is a UDP socket on
 * 127.0.0.1, and datagrams for the loop come from another socket on 127.0.0.1 (a known peer's address). Every packet is
 * a 28-byte IPv4/UDP header whose IP ID is its sequence number, so which packets moved, and in what order, is checked,
 * not only how many. Each direction carries at most MAX_ROUNDS × BATCH + {@value #REST} packets per test, on loopback
 * and inside this process only.
 *
 * <p>All of them are queued before the one call under test, so every socket gets a buffer of {@value #PER_PACKET}
 * bytes per packet ({@code SO_SNDBUFFORCE}/{@code SO_RCVBUFFORCE} as root, else capped by
 * {@code net.core.wmem_max}/{@code rmem_max}); the kernel accounts about 1 KiB per small packet. If it grants less,
 * the set-up fails and says so (not a test that passes on a short count).
 */
class LoopDispatchTest {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");
    private static final Ipv4Prefix LOCAL = Ipv4Prefix.parse("100.64.1.0/24");
    private static final Ipv4Prefix REMOTE = Ipv4Prefix.parse("100.64.2.0/24");
    private static final int LOCAL_HOST = Ipv4.parse("100.64.1.7");
    private static final int REMOTE_HOST = Ipv4.parse("100.64.2.5");
    private static final int LOOPBACK = Ipv4.parse("127.0.0.1");
    private static final int MTU = 1400;
    /** Packets per pass: the default batch size. */
    private static final int BATCH = EngineTuning.DEFAULT_BATCH_SIZE;
    private static final int PACKET = 28;
    /** Packets beyond MAX_ROUNDS full passes in the fairness tests: left for the next call. */
    private static final int REST = 3;
    /** The most packets one test queues in one direction. */
    private static final int MOST = MAX_ROUNDS * BATCH + REST;
    /** Socket buffer bytes asked per packet (the kernel accounts about 1 KiB per small packet and doubles the ask). */
    private static final int PER_PACKET = 2048;
    /** Socket buffer in bytes for every socket here. */
    private static final int BUFFER = MOST * PER_PACKET;

    private static final TestLibc C = TestLibc.INSTANCE;

    private SocketPairTun tun;
    private final int[] pair = {-1, -1};
    private FileDescriptor udp;
    private FileDescriptor peer;
    private DatagramChannel sender;
    private int loopPort;
    private ForwardingLoop loop;

    @BeforeEach
    void setUp() throws IOException {
        Epoll.ensureAvailability(); // loads Netty's native library (FileDescriptor read/write)
        tun = new SocketPairTun();
        pair[0] = tun.fileDescriptor(0);
        pair[1] = tun.kernelSide().intValue();
        setBuffer(pair[0], SO_SNDBUFFORCE, SO_SNDBUF); // the loop's writes towards the "kernel"
        setBuffer(pair[1], SO_SNDBUFFORCE, SO_SNDBUF); // the test's writes as the kernel
        final int[] ports = freeLoopbackPorts();
        loopPort = ports[0];
        udp = new FileDescriptor(LinuxUdp.openBound(LOOPBACK, loopPort, false, BUFFER)); // forced as root
        peer = new FileDescriptor(LinuxUdp.openBound(LOOPBACK, ports[1], false, BUFFER));
        checkGranted(udp.intValue(), SO_RCVBUF);
        checkGranted(peer.intValue(), SO_RCVBUF);
        sender = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        final RouteTable routes = new RouteTable();
        routes.put(REMOTE, new Peer(LOOPBACK, ports[1]));
        loop = ForwardingLoop.create(new FileDescriptor(pair[0]), udp.intValue(), routes,
            new LoopConfig(NETWORK, LOCAL, MTU, true, 0, BATCH, false, false));
    }

    @AfterEach
    void tearDown() throws IOException {
        if (tun != null) {
            tun.close();
        }
        if (sender != null) {
            sender.close();
        }
        if (peer != null) {
            peer.close();
        }
        if (udp != null) {
            udp.close();
        }
    }

    @Test
    void tunReadableForwardsAllItsPassesNeedWhenTheyFitInMaxRounds() throws Exception {
        final int k = MAX_ROUNDS - 1; // k full passes and one of a single packet: k + 1 = MAX_ROUNDS passes
        final int n = k * BATCH + 1;
        queueOnTun(0, n);

        loop.onTunReadable();

        assertThat(loop.counters().get(Counter.TUN_TO_UDP_PACKETS)).as("forwarded by one call").isEqualTo(n);
        assertThat(loop.counters().get(Counter.TUN_TO_UDP_BYTES)).isEqualTo((long) n * PACKET);
        assertThat(receiveAtPeer(n)).as("datagrams at the peer, in order").isEqualTo(range(0, n));
        assertNothingElse();
    }

    @Test
    void tunReadableStopsAfterMaxRoundsFullPassesAndTheNextCallForwardsTheRest() throws Exception {
        final int bound = MAX_ROUNDS * BATCH;
        queueOnTun(0, bound + REST);

        loop.onTunReadable();

        assertThat(loop.counters().get(Counter.TUN_TO_UDP_PACKETS)).as("MAX_ROUNDS × BATCH, no more")
            .isEqualTo(bound);
        assertThat(receiveAtPeer(bound)).as("the first MAX_ROUNDS × BATCH, in order").isEqualTo(range(0, bound));

        loop.onTunReadable();

        assertThat(loop.counters().get(Counter.TUN_TO_UDP_PACKETS)).as("the rest, by the next call")
            .isEqualTo(bound + REST);
        assertThat(receiveAtPeer(REST)).as("the rest were left on the TUN").isEqualTo(range(bound, bound + REST));

        loop.onTunReadable(); // the TUN is empty now: one read, EAGAIN
        assertThat(loop.counters().get(Counter.TUN_TO_UDP_PACKETS)).isEqualTo(bound + REST);
        assertNothingElse();
    }

    @Test
    void udpReadableForwardsAllItsReceivesNeedWhenTheyFitInMaxRounds() throws Exception {
        final int k = MAX_ROUNDS - 1;
        final int n = k * BATCH + 1;
        queueOnUdp(0, n);

        loop.onUdpReadable();

        assertThat(loop.counters().get(Counter.UDP_TO_TUN_PACKETS)).as("delivered by one call").isEqualTo(n);
        assertThat(loop.counters().get(Counter.UDP_TO_TUN_BYTES)).isEqualTo((long) n * PACKET);
        assertThat(readFromTun()).as("packets written to the TUN, in order").isEqualTo(range(0, n));
        assertThat(peekAtLoop()).as("datagram left at the loop's socket").isEqualTo(-1);
        assertNothingElse();
    }

    @Test
    void udpReadableStopsAfterMaxRoundsFullReceivesAndTheNextCallDeliversTheRest() throws Exception {
        final int bound = MAX_ROUNDS * BATCH;
        queueOnUdp(0, bound + REST);

        loop.onUdpReadable();

        assertThat(loop.counters().get(Counter.UDP_TO_TUN_PACKETS)).as("MAX_ROUNDS × BATCH, no more")
            .isEqualTo(bound);
        assertThat(readFromTun()).as("the first MAX_ROUNDS × BATCH, in order").isEqualTo(range(0, bound));
        assertThat(peekAtLoop()).as("next datagram still queued at the loop's socket").isEqualTo(bound);

        loop.onUdpReadable();

        assertThat(loop.counters().get(Counter.UDP_TO_TUN_PACKETS)).as("the rest, by the next call")
            .isEqualTo(bound + REST);
        assertThat(readFromTun()).isEqualTo(range(bound, bound + REST));
        assertThat(peekAtLoop()).isEqualTo(-1);
        assertNothingElse();
    }

    @Test
    void tunReadableLeavesTheUdpSocketAlone() throws Exception {
        final int n = BATCH + 1;
        final int perDatagram = queueOnUdp(1000, n);
        queueOnTun(0, n);

        loop.onTunReadable();

        assertThat(loop.counters().get(Counter.TUN_TO_UDP_PACKETS)).isEqualTo(n);
        assertThat(receiveAtPeer(n)).isEqualTo(range(0, n));
        assertThat(loop.counters().get(Counter.UDP_TO_TUN_PACKETS)).as("nothing received").isZero();
        assertThat(queuedAtLoop()).as("the datagrams are still queued").isEqualTo(n * perDatagram);
        assertThat(readFromTun()).as("nothing written to the TUN").isEmpty();

        loop.onUdpReadable();

        assertThat(readFromTun()).as("now they are delivered").isEqualTo(range(1000, 1000 + n));
        assertNothingElse();
    }

    @Test
    void udpReadableLeavesTheTunAlone() throws Exception {
        final int n = BATCH + 1;
        queueOnTun(0, n);
        queueOnUdp(1000, n);

        loop.onUdpReadable();

        assertThat(loop.counters().get(Counter.UDP_TO_TUN_PACKETS)).isEqualTo(n);
        assertThat(readFromTun()).isEqualTo(range(1000, 1000 + n));
        assertThat(loop.counters().get(Counter.TUN_TO_UDP_PACKETS)).as("nothing read from the TUN").isZero();
        assertThat(receiveAtPeer(0)).as("nothing sent").isEmpty();

        loop.onTunReadable();

        assertThat(receiveAtPeer(n)).as("the TUN still held them all").isEqualTo(range(0, n));
        assertNothingElse();
    }

    /** Nothing dropped by the loop, nothing more at the peer or on the TUN side. */
    private void assertNothingElse() throws Exception {
        for (final DropReason reason : DropReason.values()) {
            assertThat(loop.counters().drops(reason)).as("drops for %s", reason).isZero();
        }
        assertThat(receiveAtPeer(0)).as("no more datagrams at the peer").isEmpty();
        assertThat(readFromTun()).as("no more packets on the TUN side").isEmpty();
    }

    /** Writes packets {@code first}.. for the peer (100.64.1.1 → 100.64.2.5) into the TUN, as the kernel would. */
    private void queueOnTun(final int first, final int count) {
        for (int i = first; i < first + count; i++) {
            final byte[] p = packet(Ipv4.parse("100.64.1.1"), REMOTE_HOST, i);
            assertThat(C.write(pair[1], p, p.length)).as("TUN-side write %d (errno %d)", i,
                Native.getLastError()).isEqualTo(PACKET);
        }
    }

    /**
     * Sends datagrams {@code first}.. (100.64.2.5 → 100.64.1.7) to the loop's socket and waits until the kernel has
     * queued all of them there: its receive memory must reach {@code count} times that of the first (loopback
     * delivery may be deferred to a softirq), and its drop counter must stay 0.
     *
     * @return the receive memory one datagram takes at the loop's socket, in bytes
     */
    private int queueOnUdp(final int first, final int count) throws Exception {
        assertThat(queuedAtLoop()).as("loop's socket empty before").isZero();
        final InetSocketAddress to = new InetSocketAddress("127.0.0.1", loopPort);
        sender.send(ByteBuffer.wrap(packet(REMOTE_HOST, LOCAL_HOST, first)), to);
        final long deadline = System.nanoTime() + 5_000_000_000L;
        int perDatagram = queuedAtLoop();
        while (perDatagram == 0 && System.nanoTime() < deadline) {
            Thread.sleep(1);
            perDatagram = queuedAtLoop();
        }
        assertThat(perDatagram).as("first datagram queued at the loop's socket").isPositive();
        for (int i = first + 1; i < first + count; i++) {
            sender.send(ByteBuffer.wrap(packet(REMOTE_HOST, LOCAL_HOST, i)), to);
        }
        final long all = (long) count * perDatagram;
        while (queuedAtLoop() < all && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertThat(meminfo(udp.intValue())[SK_MEMINFO_DROPS]).as("datagrams the kernel dropped").isZero();
        assertThat((long) queuedAtLoop()).as("%d datagrams of %d bytes queued", count, perDatagram).isEqualTo(all);
        return perDatagram;
    }

    /**
     * Returns the sequence number of the datagram at the head of the loop's socket without taking it
     * ({@code MSG_PEEK}), or -1 if none is queued. (Its receive memory is no measure once the loop has read some: UDP
     * releases it in batches.)
     */
    private int peekAtLoop() {
        final byte[] buffer = new byte[2048];
        final long n = C.recv(udp.intValue(), buffer, buffer.length, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 ? -1 : ByteBuffer.wrap(buffer).getShort(4) & 0xffff;
    }

    /**
     * Receive memory in use at the loop's UDP socket ({@code SK_MEMINFO_RMEM_ALLOC}), in bytes: the sum of the queued
     * datagrams' buffer sizes while the loop has read none.
     */
    private int queuedAtLoop() throws IOException {
        return meminfo(udp.intValue())[SK_MEMINFO_RMEM_ALLOC];
    }

    /**
     * Receives datagrams at the peer until {@code expected} arrived (at most 2 s), then 50 ms more to catch any extra,
     * and checks each is one forwarded 28-byte packet (TTL decremented).
     *
     * @return the sequence numbers received, in order
     */
    private List<Integer> receiveAtPeer(final int expected) throws InterruptedException {
        final List<Integer> ids = new ArrayList<>();
        final byte[] buffer = new byte[2048];
        final long deadline = System.nanoTime() + 2_000_000_000L;
        long quietUntil = Long.MAX_VALUE;
        while (System.nanoTime() < Math.min(deadline, quietUntil)) {
            final long n = C.recv(peer.intValue(), buffer, buffer.length, MSG_DONTWAIT);
            if (n < 0) {
                if (ids.size() >= expected && quietUntil == Long.MAX_VALUE) {
                    quietUntil = System.nanoTime() + 50_000_000L;
                }
                Thread.sleep(1);
                continue;
            }
            ids.add(checkForwarded(buffer, n, REMOTE_HOST));
        }
        return ids;
    }

    /** Reads what the loop wrote to the TUN until EAGAIN (the writes are synchronous); checks each packet. */
    private List<Integer> readFromTun() {
        final List<Integer> ids = new ArrayList<>();
        final byte[] buffer = new byte[2048];
        for (int i = 0; i <= MOST; i++) { // bounded: the loop never writes more than a test queued
            final long n = C.recv(pair[1], buffer, buffer.length, MSG_DONTWAIT);
            if (n < 0) {
                break;
            }
            ids.add(checkForwarded(buffer, n, LOCAL_HOST));
        }
        return ids;
    }

    /** Checks a forwarded packet (length, destination, TTL 63) and returns its sequence number (the IP ID). */
    private static int checkForwarded(final byte[] buffer, final long length, final int destination) {
        assertThat(length).as("one whole packet").isEqualTo(PACKET);
        final ByteBuffer p = ByteBuffer.wrap(buffer, 0, PACKET);
        assertThat(p.getInt(16)).as("destination").isEqualTo(destination);
        assertThat(p.get(8) & 0xff).as("TTL decremented").isEqualTo(63);
        return p.getShort(4) & 0xffff;
    }

    /** A 28-byte IPv4/UDP packet 40000 → 9, TTL 64, IP ID {@code seq}, both checksums set. */
    private static byte[] packet(final int src, final int dst, final int seq) {
        return TestPackets.udp(src, 40000, dst, 9, seq, new byte[0]);
    }

    private static List<Integer> range(final int from, final int to) {
        return IntStream.range(from, to).boxed().toList();
    }

    /** Asks for a buffer of {@link #BUFFER} bytes, forced if allowed (root), and checks what the kernel granted. */
    private static void setBuffer(final int fd, final int forced, final int plain) throws IOException {
        if (C.setsockopt(fd, SOL_SOCKET, forced, new int[] {BUFFER}, 4) != 0
            && C.setsockopt(fd, SOL_SOCKET, plain, new int[] {BUFFER}, 4) != 0) {
            throw new IOException("setsockopt " + plain + " failed: errno " + Native.getLastError());
        }
        checkGranted(fd, plain);
    }

    /** Fails unless the buffer the kernel uses (twice the ask, capped without root) is at least {@link #BUFFER}. */
    private static void checkGranted(final int fd, final int option) throws IOException {
        final int granted = option(fd, option);
        if (granted < BUFFER) {
            throw new IOException((option == SO_SNDBUF ? "send" : "receive") + " buffer of " + granted + " bytes, "
                + BUFFER + " needed to queue " + MOST + " packets: run as root or raise net.core."
                + (option == SO_SNDBUF ? "wmem_max" : "rmem_max"));
        }
    }

    private static int option(final int fd, final int name) throws IOException {
        final int[] value = new int[1];
        if (C.getsockopt(fd, SOL_SOCKET, name, value, new int[] {4}) != 0) {
            throw new IOException("getsockopt " + name + " failed: errno " + Native.getLastError());
        }
        return value[0];
    }

    /** {@code getsockopt(SO_MEMINFO)}: the socket's {@code SK_MEMINFO_*} values, drops included. */
    private static int[] meminfo(final int fd) throws IOException {
        final int[] values = new int[SK_MEMINFO_DROPS + 1];
        final int[] length = {4 * values.length};
        if (C.getsockopt(fd, SOL_SOCKET, SO_MEMINFO, values, length) != 0
            || length[0] < 4 * values.length) {
            throw new IOException("getsockopt SO_MEMINFO failed: errno " + Native.getLastError() + ", length "
                + length[0]);
        }
        return values;
    }

    /** Two distinct free UDP ports on 127.0.0.1 (held together while chosen, released for the real sockets). */
    private static int[] freeLoopbackPorts() throws IOException {
        try (DatagramChannel a = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
             DatagramChannel b = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            return new int[] {((InetSocketAddress) a.getLocalAddress()).getPort(),
                ((InetSocketAddress) b.getLocalAddress()).getPort()};
        }
    }
}
