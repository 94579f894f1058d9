package io.overlay.benchmarks;

import io.netty.channel.unix.Buffer;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.EngineSettings;
import io.overlay.core.spi.EngineTuning;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.SocketPairTun;
import io.overlay.testing.TestPackets;
import io.overlay.udp.UdpPacketEngine;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The real engine ({@link UdpPacketEngine}, one Netty epoll loop, recvmmsg/sendmmsg) driven end to end on loopback:
 * its TUN is a {@link SocketPairTun} and its peer 100.64.2.0/24 is a {@link DatagramChannel} on 127.0.0.1 owned by the
 * benchmark. Each invocation moves a batch of {@value #BATCH} real IPv4/TCP packets of {@link #size} bytes through the
 * engine and waits until all of them came out the other side:
 * <ul>
 *   <li>{@link #tunToUdp}: write the packets into the socket pair (as the kernel writes to a TUN), receive them as
 *       datagrams on the peer's channel;</li>
 *   <li>{@link #udpToTun}: send them from the peer's channel to the engine's port, read them from the socket pair.</li>
 * </ul>
 * One operation is one packet. The rate includes the benchmark thread's own syscalls (one write and one read per
 * packet, in parallel with the engine thread on the other core), so it is a lower bound of the engine's own rate.
 * {@code -prof gc} counts the allocation of all threads, the engine's included: it must show 0 B/op. A packet that
 * does not arrive within {@value #TIMEOUT_MS} ms fails the run with the engine's counters. Only loopback is used.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class EngineLoopBenchmark {
    /** Packets per invocation (the engine's batch). */
    static final int BATCH = EngineTuning.DEFAULT_BATCH_SIZE;
    private static final int MTU = 1472;
    private static final int SLOT = 2048;
    private static final long TIMEOUT_MS = 2000;

    /** Inner packet size in bytes. */
    @Param({"64", "1472"})
    public int size;

    private final ByteBuffer toTun = ByteBuffer.allocateDirect(BATCH * SLOT);
    private final ByteBuffer fromPeer = ByteBuffer.allocateDirect(BATCH * SLOT);
    private final ByteBuffer[] fromPeerViews = new ByteBuffer[BATCH];
    private final ByteBuffer receive = ByteBuffer.allocateDirect(SLOT);
    private long toTunAddress;
    private long receiveAddress;
    private SocketPairTun tun;
    private FileDescriptor kernel;
    private DatagramChannel peer;
    private UdpPacketEngine engine;

    /**
     * Starts the engine on a free loopback port and connects the peer's channel to it.
     *
     * @throws IOException if a socket cannot be opened or the engine does not start
     */
    @Setup(Level.Trial)
    public void setup() throws IOException {
        tun = new SocketPairTun();
        kernel = tun.kernelSide();
        final InetAddress loopback = InetAddress.getByName("127.0.0.1");
        peer = DatagramChannel.open(StandardProtocolFamily.INET);
        peer.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
        peer.setOption(StandardSocketOptions.SO_SNDBUF, 4 << 20);
        peer.bind(new InetSocketAddress(loopback, 0));
        final int peerPort = ((InetSocketAddress) peer.getLocalAddress()).getPort();
        final int enginePort;
        try (DatagramChannel probe = DatagramChannel.open(StandardProtocolFamily.INET)) {
            probe.bind(new InetSocketAddress(loopback, 0));
            enginePort = ((InetSocketAddress) probe.getLocalAddress()).getPort();
        }
        final int lo = Ipv4.parse("127.0.0.1");
        final RouteTable routes = new RouteTable();
        routes.replaceAll(Map.of(Ipv4Prefix.parse("100.64.2.0/24"), new Peer(lo, peerPort)));
        engine = new UdpPacketEngine(new EngineSettings(lo, enginePort, Ipv4Prefix.parse("100.64.0.0/16"),
            Ipv4Prefix.parse("100.64.1.0/24"), MTU, true, 1), tun, routes);
        engine.start();
        peer.connect(new InetSocketAddress(loopback, enginePort));
        peer.configureBlocking(false);

        final int local = Ipv4.parse("100.64.1.2");
        final int remote = Ipv4.parse("100.64.2.2");
        final int payload = size - TestPackets.IPV4_HEADER - TestPackets.TCP_HEADER;
        for (int i = 0; i < BATCH; i++) {
            TestPackets.writeTcp(toTun, i * SLOT, local, remote, 0x9c40_1451, i, i * payload, payload);
            TestPackets.writeTcp(fromPeer, i * SLOT, remote, local, 0x1451_9c40, i, i * payload, payload);
            fromPeerViews[i] = fromPeer.duplicate().position(i * SLOT).limit(i * SLOT + size).slice();
        }
        toTunAddress = Buffer.memoryAddress(toTun);
        receiveAddress = Buffer.memoryAddress(receive);
    }

    /** Stops the engine and closes the sockets. */
    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (engine != null) {
            engine.close();
        }
        if (peer != null) {
            peer.close();
        }
        if (tun != null) {
            tun.close();
        }
    }

    /**
     * TUN → engine → UDP peer for a batch.
     *
     * @return packets received (consumed by JMH)
     * @throws IOException if a socket call fails
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int tunToUdp() throws IOException {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
        for (int i = 0; i < BATCH; i++) {
            while (kernel.writeAddress(toTunAddress, i * SLOT, i * SLOT + size) == 0) {
                check(deadline, "writing to the socket-pair TUN");
            }
        }
        int received = 0;
        while (received < BATCH) {
            receive.clear();
            if (peer.read(receive) > 0) {
                received++;
            } else {
                check(deadline, "waiting for datagrams at the peer");
            }
        }
        return received;
    }

    /**
     * UDP peer → engine → TUN for a batch.
     *
     * @return packets read from the TUN side (consumed by JMH)
     * @throws IOException if a socket call fails
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int udpToTun() throws IOException {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
        for (int i = 0; i < BATCH; i++) {
            final ByteBuffer view = fromPeerViews[i];
            view.clear();
            while (peer.write(view) == 0) {
                check(deadline, "sending to the engine");
            }
        }
        int received = 0;
        while (received < BATCH) {
            if (kernel.readAddress(receiveAddress, 0, SLOT) > 0) {
                received++;
            } else {
                check(deadline, "waiting for packets at the socket-pair TUN");
            }
        }
        return received;
    }

    private void check(final long deadline, final String what) {
        if (System.nanoTime() - deadline > 0) {
            final TrafficCounters c = engine.counters();
            throw new IllegalStateException("timed out " + what + " after " + TIMEOUT_MS + " ms; engine counters: "
                + c);
        }
    }
}
