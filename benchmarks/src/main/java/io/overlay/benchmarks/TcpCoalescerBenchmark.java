package io.overlay.benchmarks;

import io.netty.channel.unix.Buffer;
import io.overlay.core.net.Ipv4;
import io.overlay.testing.TestPackets;
import io.overlay.udp.offload.TcpCoalescer;
import io.overlay.udp.offload.TunFrameSink;
import java.nio.ByteBuffer;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * Software GRO ({@link TcpCoalescer}) of one receive batch: {@value #BATCH} in-order MSS-sized TCP segments (1472-byte
 * IPv4 packets, valid checksums, incrementing IP IDs) of {@link #flows} interleaved flows are added one by one, then
 * {@link TcpCoalescer#flush()} emits one super-packet per flow to a sink that only counts bytes. Each segment's IPv4
 * and TCP checksums are verified; {@code copy} copies its payload once, {@code inPlace} leaves it where it is and
 * emits a gather list (the engine's mode). One operation is one segment; {@code -prof gc} must show
 * 0 B/op. Setup checks that the batch really merges ({@link #flows} frames out per batch, no pass-through).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class TcpCoalescerBenchmark {
    /** Segments per batch (the engine's recvmmsg batch). */
    static final int BATCH = 32;
    private static final int PACKET = 1472;
    private static final int PAYLOAD = PACKET - TestPackets.IPV4_HEADER - TestPackets.TCP_HEADER;

    /** Interleaved TCP flows in the batch (each gets {@code BATCH / flows} consecutive segments). */
    @Param({"1", "4"})
    public int flows;

    /** {@code copy}: payloads copied into the run ({@code frame}); {@code inPlace}: referenced, gather list out. */
    @Param({"copy", "inPlace"})
    public String mode;

    private final ByteBuffer segments = ByteBuffer.allocateDirect(BATCH * PACKET);
    private final long address = Buffer.memoryAddress(segments);
    private long sinkBytes;
    private long sinkFrames;
    private TcpCoalescer coalescer;

    /** Builds the batch and checks it merges into one frame per flow. */
    @Setup(Level.Trial)
    public void setup() {
        final TunFrameSink sink = new TunFrameSink() {
            @Override
            public void frame(final ByteBuffer buf, final int off, final int len, final int packets,
                              final int packetBytes) {
                sinkBytes += len;
                sinkFrames++;
            }

            @Override
            public void gather(final long iovecs, final int count, final int len, final int packets,
                               final int packetBytes) {
                sinkBytes += len;
                sinkFrames++;
            }
        };
        coalescer = "inPlace".equals(mode) ? TcpCoalescer.inPlace(8, sink) : new TcpCoalescer(8, sink);
        final int src = Ipv4.parse("100.64.2.2");
        final int dst = Ipv4.parse("100.64.1.2");
        for (int i = 0; i < BATCH; i++) {
            final int flow = i % flows;
            final int n = i / flows;
            TestPackets.writeTcp(segments, i * PACKET, src, dst, (40000 + flow) << 16 | 5201, flow * 1000 + n,
                flow * 0x0100_0000 + n * PAYLOAD, PAYLOAD);
        }
        batch();
        if (sinkFrames != flows || coalescer.passedThrough() != 0) {
            throw new IllegalStateException("the batch gave " + sinkFrames + " frames (" + coalescer.passedThrough()
                + " passed through), expected " + flows);
        }
    }

    /**
     * Adds the batch and flushes.
     *
     * @return bytes emitted so far (consumed by JMH)
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long batch() {
        for (int i = 0; i < BATCH; i++) {
            coalescer.add(segments, address, i * PACKET, PACKET);
        }
        coalescer.flush();
        return sinkBytes;
    }
}
