package io.overlay.udp.offload;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.TestPackets;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/**
 * The packet path must not allocate: after a warm-up, segmenting and coalescing thousands of packets may not allocate
 * more than a few hundred bytes on this thread (measured with the JDK's per-thread allocation counter, not with time).
 */
class AllocationFreeTest {
    private static final com.sun.management.ThreadMXBean THREADS =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private final GsoSegmenter segmenter = new GsoSegmenter(1500);
    private final SegmentBatch batch = new SegmentBatch(64, 1500);
    private final VirtioNetHdr hdr = new VirtioNetHdr();
    private final ByteBuffer frame = ByteBuffer.allocateDirect(70_000);
    private long sink;
    private long superPackets;
    private final TcpCoalescer coalescer = new TcpCoalescer(8, (buf, off, len, packets, bytes) -> {
        sink += len;
        superPackets += packets > 1 ? 1 : 0;
    });

    private final SegmentBatch split = new SegmentBatch(64, 1500);
    private final TcpCoalescer inPlace = TcpCoalescer.inPlace(8, new TunFrameSink() {
        @Override
        public void frame(final ByteBuffer buf, final int off, final int len, final int packets, final int bytes) {
            throw new AssertionError("an in-place coalescer emits gather lists");
        }

        @Override
        public void gather(final long iovecs, final int count, final int len, final int packets, final int bytes) {
            sink += len;
            superPackets += packets > 1 ? 1 : 0;
        }
    });
    private final long batchAddress = io.netty.channel.unix.Buffer.memoryAddress(batch.buffer());

    /** The engine's modes: segments split (headers only), coalescing in place with gather lists. */
    private void roundInPlace() {
        hdr.wrap(frame, 0);
        if (segmenter.segmentInPlace(hdr, frame, VirtioNetHdr.LENGTH, frame.getInt(69_996), split)
            != OffloadVerdict.OK
            || segmenter.segment(hdr, frame, VirtioNetHdr.LENGTH, frame.getInt(69_996), batch) != OffloadVerdict.OK) {
            throw new AssertionError("segmentation failed");
        }
        for (int i = 0; i < batch.count(); i++) {
            inPlace.add(batch.buffer(), batchAddress, batch.offset(i), batch.length(i));
        }
        inPlace.flush();
    }

    @Test
    void splitSegmentingAndInPlaceCoalescingAllocateNothingPerPacket() {
        final byte[] sp = new TestPackets.Tcp().payload(60_000, 1).build();
        frame.put(VirtioNetHdr.LENGTH, sp);
        frame.putInt(69_996, sp.length);
        new VirtioNetHdr().wrap(frame, 0).clear().gsoType(VirtioNetHdr.GSO_TCPV4).gsoSize(1448).hdrLen(52);
        for (int i = 0; i < 2_000; i++) {
            roundInPlace();
        }
        final long tid = Thread.currentThread().getId();
        final long before = THREADS.getThreadAllocatedBytes(tid);
        superPackets = 0;
        for (int i = 0; i < 1_000; i++) {
            roundInPlace();
        }
        final long allocated = THREADS.getThreadAllocatedBytes(tid) - before;
        assertThat(superPackets).isEqualTo(1_000);
        assertThat(allocated).as("bytes allocated for 42000 packets each way").isLessThan(4096);
    }

    private void round() {
        hdr.wrap(frame, 0);
        if (segmenter.segment(hdr, frame, VirtioNetHdr.LENGTH, frame.getInt(69_996), batch) != OffloadVerdict.OK) {
            throw new AssertionError("segmentation failed");
        }
        for (int i = 0; i < batch.count(); i++) {
            coalescer.add(batch.buffer(), batch.offset(i), batch.length(i));
        }
        coalescer.flush();
    }

    @Test
    void segmentingAndCoalescingAllocateNothingPerPacket() {
        final byte[] sp = new TestPackets.Tcp().payload(60_000, 1).build();
        frame.put(VirtioNetHdr.LENGTH, sp);
        frame.putInt(69_996, sp.length);
        new VirtioNetHdr().wrap(frame, 0).clear().gsoType(VirtioNetHdr.GSO_TCPV4).gsoSize(1448).hdrLen(52);
        for (int i = 0; i < 2_000; i++) {
            round(); // warm-up: class loading, JIT
        }
        final long tid = Thread.currentThread().getId();
        final long before = THREADS.getThreadAllocatedBytes(tid);
        for (int i = 0; i < 1_000; i++) {
            round(); // 1000 super-packets = 42000 segments in, 1000 super-packets out
        }
        final long allocated = THREADS.getThreadAllocatedBytes(tid) - before;
        assertThat(superPackets).isEqualTo(3_000);
        assertThat(sink).isPositive();
        assertThat(allocated).as("bytes allocated for 42000 packets").isLessThan(4096);
    }
}
