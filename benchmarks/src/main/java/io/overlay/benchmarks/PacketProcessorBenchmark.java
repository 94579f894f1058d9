package io.overlay.benchmarks;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import io.overlay.testing.TestPackets;
import io.overlay.udp.PacketProcessor;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
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
import org.openjdk.jmh.infra.Blackhole;

/**
 * Per-packet processing of the engine without I/O ({@link PacketProcessor}): for each packet of a pre-filled batch of
 * {@value #BATCH} real IPv4 packets (TCP, {@link #size} bytes, correct checksums, TTL 64) in one direct buffer laid out
 * like the engine's receive slots, TUN → UDP does validation, the Network check, the route lookup among {@link #peers}
 * peers (/24s of 100.64.0.0/10) and the TTL decrement with its RFC 1624 checksum patch; UDP → TUN does the known-sender
 * check, validation, the local-subnet check and the TTL decrement. One operation is one packet; JMH reports packets
 * per microsecond, and {@code -prof gc} must show 0 B/op.
 *
 * <p>The processor decrements the TTL in place, so before each packet its TTL byte and header checksum are put back
 * (two stores, standing in for the fresh bytes a real read would bring). After the run every packet must have been
 * forwarded: {@link #verify} fails the benchmark if any drop was counted.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class PacketProcessorBenchmark {
    /** Packets per batch (the engine's recvmmsg/sendmmsg batch). */
    static final int BATCH = 32;
    private static final int MTU = 1472;
    private static final int SLOT = 1480;

    /** Peers in the route table (each a /24 of 100.64.0.0/10, one PublicIP each in 198.18.0.0/15). */
    @Param({"1", "4096"})
    public int peers;

    /** Inner packet size in bytes. */
    @Param({"64", "1472"})
    public int size;

    private final ByteBuffer packets = ByteBuffer.allocateDirect(BATCH * SLOT);
    private final short[] checksums = new short[BATCH];
    private final int[] senders = new int[BATCH];
    private PacketProcessor outgoing;
    private PacketProcessor incoming;

    /** Fills the route table and the batch. */
    @Setup(Level.Trial)
    public void setup() {
        final int base = Ipv4.parse("100.64.0.0");
        final int underlay = Ipv4.parse("198.18.0.0");
        final Ipv4Prefix network = Ipv4Prefix.parse("100.64.0.0/10");
        final Map<Ipv4Prefix, Peer> all = new LinkedHashMap<>();
        for (int i = 0; i < peers; i++) {
            all.put(Ipv4Prefix.of(base + ((i + 1) << 8), 24), new Peer(underlay + 1 + i, 8285));
        }
        final RouteTable routes = new RouteTable();
        routes.replaceAll(all);
        final Ipv4Prefix local = Ipv4Prefix.of(base, 24);
        outgoing = new PacketProcessor(routes, network, local, MTU, true);
        incoming = new PacketProcessor(routes, network, local, MTU, true);
        for (int i = 0; i < BATCH; i++) {
            final int peer = (int) ((i * 2654435761L) % peers);
            // Destinations spread over the peers: routed for TUN -> UDP. (UDP -> TUN reuses the same bytes with the
            // destination rewritten into the local subnet below, before each run, see udpToTun.)
            TestPackets.writeTcp(packets, i * SLOT, base + 1, base + ((peer + 1) << 8) + 2, 0x9c40_1451, i, i * 1000,
                size - TestPackets.IPV4_HEADER - TestPackets.TCP_HEADER);
            checksums[i] = packets.getShort(i * SLOT + 10);
            senders[i] = underlay + 1 + peer;
        }
    }

    /**
     * TUN → UDP for one packet.
     *
     * @param bh consumes the peer
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void tunToUdp(final Blackhole bh) {
        final ByteBuffer buf = packets;
        for (int i = 0; i < BATCH; i++) {
            final int off = i * SLOT;
            buf.put(off + 8, (byte) 64);
            buf.putShort(off + 10, checksums[i]);
            bh.consume(outgoing.tunToUdp(buf, off, size));
        }
    }

    /**
     * UDP → TUN for one packet.
     *
     * @param state the batch with destinations in the local subnet
     * @param bh consumes the verdict
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void udpToTun(final Incoming state, final Blackhole bh) {
        final ByteBuffer buf = state.packets;
        for (int i = 0; i < BATCH; i++) {
            final int off = i * SLOT;
            buf.put(off + 8, (byte) 64);
            buf.putShort(off + 10, state.checksums[i]);
            bh.consume(incoming.udpToTun(buf, off, size, senders[i]));
        }
    }

    /**
     * The UDP → TUN batch: the same TCP packets, sent to 100.64.0.2 (the local subnet 100.64.0.0/24).
     */
    @State(Scope.Thread)
    public static class Incoming {
        final ByteBuffer packets = ByteBuffer.allocateDirect(BATCH * SLOT);
        final short[] checksums = new short[BATCH];

        /**
         * Builds the batch.
         *
         * @param b the benchmark state (for the packet size)
         */
        @Setup(Level.Trial)
        public void setup(final PacketProcessorBenchmark b) {
            final int base = Ipv4.parse("100.64.0.0");
            for (int i = 0; i < BATCH; i++) {
                TestPackets.writeTcp(packets, i * SLOT, base + ((i + 1) << 8) + 2, base + 2, 0x1451_9c40, i, i * 1000,
                    b.size - TestPackets.IPV4_HEADER - TestPackets.TCP_HEADER);
                checksums[i] = packets.getShort(i * SLOT + 10);
            }
        }
    }

    /** Fails the run if the processor dropped anything: every packet of the batch must be forwarded. */
    @TearDown(Level.Trial)
    public void verify() {
        for (io.overlay.core.spi.DropReason r : io.overlay.core.spi.DropReason.values()) {
            if (outgoing.drops(r) != 0 || incoming.drops(r) != 0) {
                throw new IllegalStateException("packets dropped for " + r + ": TUN->UDP " + outgoing.drops(r)
                    + ", UDP->TUN " + incoming.drops(r));
            }
        }
    }
}
