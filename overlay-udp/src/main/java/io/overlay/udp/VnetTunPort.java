package io.overlay.udp;

import io.netty.channel.unix.Buffer;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TunDevice;
import io.overlay.udp.offload.GsoSegmenter;
import io.overlay.udp.offload.OffloadVerdict;
import io.overlay.udp.offload.SegmentBatch;
import io.overlay.udp.offload.TcpCoalescer;
import io.overlay.udp.offload.TunFrameSink;
import io.overlay.udp.offload.VirtioNetHdr;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TUN queue opened with {@code IFF_VNET_HDR} (offloads): every frame is a {@code virtio_net_hdr} followed by one
 * IPv4 packet of up to 65535 bytes, and the loop still sees only plain packets of at most the MTU, as wireguard-go's
 * {@code NativeTun} hides the header, the GSO split and GRO behind {@code Read}/{@code Write}.
 *
 * <p><b>Read.</b> One frame per {@code read} into a reused 64 KiB buffer. A non-GSO frame has its partial checksum
 * completed and is copied into a plain slot, so several of them batch into one send. A GSO super-packet is cut by
 * {@link GsoSegmenter} into MTU-sized packets exactly as the kernel would, into a segment area; the read pass then
 * stops ({@link #MORE}) so the loop sends those segments before the next read reuses the area. A frame the segmenter
 * refuses is dropped as {@link DropReason#BAD_VNET_HEADER} (logged once). With {@code split} (opt-in,
 * {@link #SPLIT_SEGMENTS_PROP_NAME}; never with encryption) a TCP segment's payload is not copied: only its headers
 * go to the segment area and the packet is handed on {@link PacketBatch#addSplit split}, its payload still in the
 * frame buffer, so that the UDP port sends it as two iovecs and the kernel's copy into the socket buffer is the only
 * copy.
 *
 * <p><b>Write.</b> Packets go to a {@link TcpCoalescer}, which merges in-order TCP segments of a flow into one GSO
 * super-packet and passes everything else through with a zero header; {@link #flush()} ends its runs. This port is
 * its {@link TunFrameSink} and counts each frame as the packets the coalescer says it carries. With
 * {@link #GATHER_WRITES_PROP_NAME} (opt-in) the coalescer works {@link TcpCoalescer#inPlace in place}: each frame is a
 * gather list of the run's headers and the payloads where the UDP port received them (valid until the loop's next
 * receive, after {@link #flush()}), written with one {@code writev}.
 *
 * <p>Memory, allocated once: the 64 KiB frame buffer, {@code batch} plain slots and {@link #MAX_SEGMENTS} × MTU of
 * segment area in one buffer, and the coalescer's ({@link #COALESCER_FLOWS} + 1) × 64 KiB (header areas only in
 * place). Loop thread only.
 */
final class VnetTunPort implements TunPort, TunFrameSink {
    /** Most segments one TUN super-packet may be cut into: gso_size ≥ 512 bytes for a 64 KiB packet. */
    static final int MAX_SEGMENTS = TunDevice.MAX_GSO_SEGMENTS;
    /**
     * System property: {@code true} sends TSO segments as header + payload iovecs ({@link GsoSegmenter#segmentInPlace})
     * instead of whole copied packets. Off by default: on the 2-core benchmark machine it did not measurably pay
     * (docs/performance.md, "Round two").
     */
    static final String SPLIT_SEGMENTS_PROP_NAME = "overlay.udp.splitSegments";
    /**
     * System property: {@code true} makes the coalescer leave payloads where they were received and write each frame
     * as a {@code writev} gather list ({@link TcpCoalescer#inPlace}) instead of copying them into its run buffer. Off
     * by default, as {@link #SPLIT_SEGMENTS_PROP_NAME}.
     */
    static final String GATHER_WRITES_PROP_NAME = "overlay.udp.gatherWrites";
    static final boolean SPLIT_SEGMENTS = Boolean.getBoolean(SPLIT_SEGMENTS_PROP_NAME);
    private static final boolean GATHER_WRITES = Boolean.getBoolean(GATHER_WRITES_PROP_NAME);
    /** TCP flows with an open coalescing run (as the kernel keeps per GRO bucket). */
    static final int COALESCER_FLOWS = 8;

    private static final Logger LOG = LoggerFactory.getLogger(VnetTunPort.class);

    private final FileDescriptor fd;
    private final LoopCounters counters;
    private final ByteBuffer frame;
    private final long frameAddress;
    private final VirtioNetHdr header = new VirtioNetHdr();
    private final GsoSegmenter segmenter;
    private final int slotSize;
    private final ByteBuffer area;
    private final int segmentBase;
    private final SegmentBatch segments;
    private final PacketBatch batch;
    private final TcpCoalescer coalescer;
    /** Whether TSO segments keep their payload in {@link #frame} (sent as header + payload iovecs). */
    private final boolean split;
    private ByteBuffer sinkBuffer;
    private long sinkAddress;
    private boolean errorLogged;
    private boolean badFrameLogged;

    /**
     * Creates the port.
     *
     * @param fd the TUN queue (not owned), opened with {@code IFF_VNET_HDR} and a 10-byte header
     * @param batchSize the most frames per read pass
     * @param mtu the TUN MTU in bytes: the largest packet handed to the loop
     * @param counters the loop's counters
     * @param split whether a TSO super-packet's segments keep their payload in the read buffer
     *     ({@link GsoSegmenter#segmentInPlace}); {@code false} when a later step needs each packet whole (sealing)
     */
    VnetTunPort(final FileDescriptor fd, final int batchSize, final int mtu, final LoopCounters counters,
                final boolean split) {
        this.fd = fd;
        this.split = split;
        this.counters = counters;
        this.frame = ByteBuffer.allocateDirect(VirtioNetHdr.LENGTH + 65535).order(ByteOrder.BIG_ENDIAN);
        this.frameAddress = Buffer.memoryAddress(frame);
        this.segmenter = new GsoSegmenter(mtu);
        this.slotSize = PlainTunPort.slotSize(mtu);
        this.segmentBase = batchSize * slotSize;
        this.area = ByteBuffer.allocateDirect(segmentBase + MAX_SEGMENTS * mtu).order(ByteOrder.BIG_ENDIAN);
        this.segments = new SegmentBatch(area.slice(segmentBase, MAX_SEGMENTS * mtu), MAX_SEGMENTS, mtu);
        this.batch = new PacketBatch(area, batchSize + MAX_SEGMENTS);
        this.coalescer = GATHER_WRITES ? TcpCoalescer.inPlace(COALESCER_FLOWS, this)
            : new TcpCoalescer(COALESCER_FLOWS, this);
    }

    @Override
    public PacketBatch batch() {
        return batch;
    }

    @Override
    public int read(final int budget) {
        batch.clear();
        int plain = 0;
        while (batch.frames() < budget) {
            final int n;
            try {
                n = fd.readAddress(frameAddress, 0, frame.capacity());
            } catch (IOException e) {
                logError("read", e);
                return FAILED;
            }
            if (n <= 0) {
                return DONE;
            }
            final int id = batch.newFrame();
            if (n < VirtioNetHdr.LENGTH) {
                counters.drop(DropReason.BAD_VNET_HEADER);
                continue;
            }
            final int length = n - VirtioNetHdr.LENGTH;
            header.wrap(frame, 0);
            if (!header.isGso()) {
                if (GsoSegmenter.completeChecksum(header, frame, VirtioNetHdr.LENGTH, length) != OffloadVerdict.OK) {
                    counters.drop(DropReason.BAD_VNET_HEADER);
                } else if (length > slotSize) {
                    counters.drop(DropReason.OVERSIZED); // as PacketProcessor would: longer than the MTU
                } else {
                    final int offset = plain++ * slotSize;
                    area.put(offset, frame, VirtioNetHdr.LENGTH, length);
                    batch.add(offset, length, id);
                }
                continue;
            }
            final OffloadVerdict verdict = split
                ? segmenter.segmentInPlace(header, frame, VirtioNetHdr.LENGTH, length, segments)
                : segmenter.segment(header, frame, VirtioNetHdr.LENGTH, length, segments);
            if (verdict != OffloadVerdict.OK) {
                counters.drop(DropReason.BAD_VNET_HEADER);
                logBadFrame(verdict);
                continue;
            }
            counters.add(Counter.TUN_SUPER_PACKETS, 1);
            for (int i = 0; i < segments.count(); i++) {
                final int tail = segments.tailLength(i);
                if (tail == 0) {
                    batch.add(segmentBase + segments.offset(i), segments.length(i), id);
                } else {
                    batch.addSplit(segmentBase + segments.offset(i), segments.headLength(i),
                        frameAddress + segments.tailOffset(i), tail, id);
                }
            }
            return MORE; // the next read reuses the frame and the area: the loop sends these first
        }
        return DONE;
    }

    @Override
    public void write(final ByteBuffer buffer, final long address, final int offset, final int length) {
        if (!coalescer.add(buffer, address, offset, length)) {
            counters.drop(DropReason.OVERSIZED);
        }
    }

    @Override
    public void flush() {
        coalescer.flush();
        counters.set(Counter.COALESCER_PASSED_THROUGH, coalescer.passedThrough());
        counters.set(Counter.COALESCER_BAD_CHECKSUMS, coalescer.badChecksums());
    }

    @Override
    public int headerLength() {
        return VirtioNetHdr.LENGTH;
    }

    /** The coalescer's output: one frame to the TUN, counted as the packets it carries. */
    @Override
    public void frame(final ByteBuffer buffer, final int offset, final int length, final int packets,
                      final int packetBytes) {
        if (buffer != sinkBuffer) {
            sinkBuffer = buffer;
            sinkAddress = Buffer.memoryAddress(buffer);
        }
        long written;
        try {
            written = fd.writeAddress(sinkAddress, offset, offset + length);
        } catch (IOException e) {
            logError("write", e);
            written = -1;
        }
        countWrite(written == length, packets, packetBytes);
    }

    /**
     * The coalescer's output as a gather list (headers, then payload slices where {@code recvmmsg} put them): one
     * {@code writev}, no user-space copy of the payload.
     */
    @Override
    public void gather(final long iovecs, final int count, final int length, final int packets,
                       final int packetBytes) {
        long written;
        try {
            written = fd.writevAddresses(iovecs, count);
        } catch (IOException e) {
            logError("write", e);
            written = -1;
        }
        countWrite(written == length, packets, packetBytes);
    }

    /** Counts one frame written to the TUN whole ({@code ok}) as the packets it carries, or drops them all. */
    private void countWrite(final boolean ok, final int packets, final int packetBytes) {
        if (!ok) {
            counters.drop(DropReason.TUN_WRITE_FAILED, packets);
            return;
        }
        counters.add(Counter.UDP_TO_TUN_PACKETS, packets);
        counters.add(Counter.UDP_TO_TUN_BYTES, packetBytes);
        if (packets > 1) {
            counters.add(Counter.TUN_COALESCED_FRAMES, 1);
        }
    }

    private void logBadFrame(final OffloadVerdict verdict) {
        if (!badFrameLogged) {
            badFrameLogged = true;
            LOG.warn("dropped a malformed TUN frame: {} (logged once per loop; drops are counted as {})",
                verdict.description(), DropReason.BAD_VNET_HEADER);
        }
    }

    private void logError(final String what, final IOException e) {
        if (!errorLogged) {
            errorLogged = true;
            LOG.warn("TUN {} failed (logged once per loop; drops are counted): {}", what, e.toString());
        }
    }
}
