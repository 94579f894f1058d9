package io.overlay.udp;

import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A plain TUN queue ({@code IFF_TUN | IFF_NO_PI}): one IPv4 packet per {@code read}/{@code write}, as flannel's
 * proxy uses it. A read pass reads up to the budget straight into the slots of one reused direct buffer (the TUN has
 * no batch read); a slot holds one byte more than the MTU, so a longer packet is seen as oversized, never silently cut.
 * Packets are written with one {@code write} each. Loop thread only; nothing allocated per packet.
 */
final class PlainTunPort implements TunPort {
    private static final Logger LOG = LoggerFactory.getLogger(PlainTunPort.class);

    private final FileDescriptor fd;
    private final LoopCounters counters;
    private final int slotSize;
    private final PacketBatch batch;
    private boolean errorLogged;

    /**
     * Creates the port.
     *
     * @param fd the TUN queue (not owned)
     * @param batchSize the most packets per read pass
     * @param mtu the TUN MTU in bytes
     * @param counters the loop's counters
     */
    PlainTunPort(final FileDescriptor fd, final int batchSize, final int mtu, final LoopCounters counters) {
        this.fd = fd;
        this.counters = counters;
        this.slotSize = slotSize(mtu);
        this.batch = new PacketBatch(ByteBuffer.allocateDirect(batchSize * slotSize).order(ByteOrder.BIG_ENDIAN),
            batchSize);
    }

    /** Bytes per packet slot: MTU + 1 (see the class comment), rounded up to 8 to keep slots aligned. */
    static int slotSize(final int mtu) {
        return (mtu + 1 + 7) & ~7;
    }

    @Override
    public PacketBatch batch() {
        return batch;
    }

    @Override
    public int read(final int budget) {
        batch.clear();
        final long address = batch.address();
        while (batch.frames() < budget) {
            final int offset = batch.frames() * slotSize;
            final int length;
            try {
                length = fd.readAddress(address, offset, offset + slotSize);
            } catch (IOException e) {
                logError("read", e);
                return FAILED;
            }
            if (length <= 0) {
                return DONE; // 0: EAGAIN, -1: end of file
            }
            batch.add(offset, length, batch.newFrame());
        }
        return DONE;
    }

    @Override
    public void write(final ByteBuffer buffer, final long address, final int offset, final int length) {
        try {
            if (fd.writeAddress(address, offset, offset + length) == length) {
                counters.add(Counter.UDP_TO_TUN_PACKETS, 1);
                counters.add(Counter.UDP_TO_TUN_BYTES, length);
                return;
            }
        } catch (IOException e) {
            logError("write", e);
        }
        counters.drop(DropReason.TUN_WRITE_FAILED);
    }

    @Override
    public void flush() {
        // every packet was written by write()
    }

    @Override
    public int headerLength() {
        return 0;
    }

    private void logError(final String what, final IOException e) {
        if (!errorLogged) {
            errorLogged = true;
            LOG.warn("TUN {} failed (logged once per loop; drops are counted): {}", what, e.toString());
        }
    }
}
