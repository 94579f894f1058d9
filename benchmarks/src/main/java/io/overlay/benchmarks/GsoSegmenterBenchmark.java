package io.overlay.benchmarks;

import io.overlay.core.net.Ipv4;
import io.overlay.testing.TestPackets;
import io.overlay.udp.offload.GsoSegmenter;
import io.overlay.udp.offload.OffloadVerdict;
import io.overlay.udp.offload.SegmentBatch;
import io.overlay.udp.offload.VirtioNetHdr;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Software GSO ({@link GsoSegmenter#segment}) of one TCP super-packet as a TUN with {@code IFF_VNET_HDR} hands it over:
 * a virtio-net header (NEEDS_CSUM, GSO TCPV4, {@code gso_size} 1432 = MTU 1472 − 40) and an IPv4/TCP packet with
 * {@link #payload} bytes of payload and the pseudo-header sum in its checksum field. Each operation cuts it into
 * MTU-sized segments with fresh IPv4 and full TCP checksums (every payload byte is summed, and copied once in
 * {@code copy} mode; {@code inPlace} writes only the headers and leaves the payload in the frame). One
 * operation is one super-packet; payload bytes per second = ops × {@link #payload}. {@code -prof gc} must show 0 B/op.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GsoSegmenterBenchmark {
    private static final int MTU = 1472;
    private static final int MSS = MTU - TestPackets.IPV4_HEADER - TestPackets.TCP_HEADER;

    /** TCP payload of the super-packet in bytes: 1 segment, 16 segments, 45 segments (the most under 64 KiB). */
    @Param({"1432", "22912", "64440"})
    public int payload;

    /** {@code copy}: {@link GsoSegmenter#segment}; {@code inPlace}: {@link GsoSegmenter#segmentInPlace} (the engine's). */
    @Param({"copy", "inPlace"})
    public String mode;

    private boolean inPlace;

    private final ByteBuffer frame = ByteBuffer.allocateDirect(VirtioNetHdr.LENGTH + 65535);
    private final VirtioNetHdr hdr = new VirtioNetHdr();
    private final GsoSegmenter segmenter = new GsoSegmenter(MTU);
    private final SegmentBatch out = new SegmentBatch(64, MTU);
    private int length;

    /** Builds the frame and checks one segmentation succeeds with the expected number of segments. */
    @Setup(Level.Trial)
    public void setup() {
        final int off = VirtioNetHdr.LENGTH;
        length = TestPackets.writeTcp(frame, off, Ipv4.parse("100.64.1.2"), Ipv4.parse("100.64.2.2"), 0x9c40_1451, 7,
            1_000_000, payload);
        frame.putShort(off + 36, (short) TestPackets.pseudoHeaderSum(frame, off, length, TestPackets.PROTO_TCP));
        hdr.wrap(frame, 0).clear().flags(VirtioNetHdr.FLAG_NEEDS_CSUM).csumStart(20).csumOffset(16);
        if (payload > MSS) {
            hdr.gsoType(VirtioNetHdr.GSO_TCPV4).gsoSize(MSS).hdrLen(40);
        }
        inPlace = "inPlace".equals(mode);
        final OffloadVerdict v = inPlace ? segmenter.segmentInPlace(hdr, frame, off, length, out)
            : segmenter.segment(hdr, frame, off, length, out);
        final int expected = (payload + MSS - 1) / MSS;
        if (v != OffloadVerdict.OK || out.count() != expected) {
            throw new IllegalStateException("segmenting the benchmark frame gave " + v + " with " + out.count()
                + " segments, expected OK with " + expected);
        }
    }

    /**
     * Segments the super-packet.
     *
     * @return the number of segments (consumed by JMH)
     */
    @Benchmark
    public int segment() {
        if (inPlace) {
            segmenter.segmentInPlace(hdr, frame, VirtioNetHdr.LENGTH, length, out);
        } else {
            segmenter.segment(hdr, frame, VirtioNetHdr.LENGTH, length, out);
        }
        return out.count();
    }
}
