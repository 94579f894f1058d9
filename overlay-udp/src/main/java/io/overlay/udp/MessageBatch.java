package io.overlay.udp;

import io.netty.channel.unix.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A reusable batch of datagrams for {@code recvmmsg(2)}/{@code sendmmsg(2)}: {@code capacity} packet slots of
 * {@code slotSize} bytes each in one direct buffer, and the matching {@code struct mmsghdr}, {@code struct iovec} and
 * {@code struct sockaddr_in} arrays, pre-linked once, in a second direct buffer (x86-64/aarch64 LP64 layout).
 *
 * <p>Slot {@code i} starts at {@link #slotOffset(int)} of {@link #packets()}; read it with an {@link Ipv4Header}
 * flyweight. Nothing is allocated after construction. Not thread-safe: one per direction per event loop.
 */
final class MessageBatch {
    // struct msghdr (56 bytes) + unsigned int msg_len + padding = struct mmsghdr, 64 bytes
    static final int MMSGHDR_SIZE = 64;
    static final int MSG_NAME = 0;
    static final int MSG_NAMELEN = 8;
    static final int MSG_IOV = 16;
    static final int MSG_IOVLEN = 24;
    static final int MSG_CONTROL = 32;
    static final int MSG_CONTROLLEN = 40;
    static final int MSG_FLAGS = 48;
    static final int MSG_LEN = 56;
    static final int IOVEC_SIZE = 16;
    static final int IOV_LEN = 8;

    private static final boolean LITTLE_ENDIAN = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    private final int capacity;
    private final int slotSize;
    private final ByteBuffer packets;
    private final long packetsAddress;
    private final ByteBuffer headers;
    private final long headersAddress;
    private final int iovBase;
    private final int nameBase;

    /**
     * Allocates and links a batch.
     *
     * @param capacity number of datagrams, at least 1
     * @param slotSize bytes per packet slot (the largest datagram a slot can take without truncation)
     */
    MessageBatch(final int capacity, final int slotSize) {
        this.capacity = capacity;
        this.slotSize = slotSize;
        this.packets = ByteBuffer.allocateDirect(capacity * slotSize).order(ByteOrder.BIG_ENDIAN);
        this.packetsAddress = Buffer.memoryAddress(packets);
        this.iovBase = capacity * MMSGHDR_SIZE;
        this.nameBase = iovBase + capacity * IOVEC_SIZE;
        this.headers = ByteBuffer.allocateDirect(nameBase + capacity * LinuxUdp.SOCKADDR_IN_SIZE)
            .order(ByteOrder.nativeOrder());
        this.headersAddress = Buffer.memoryAddress(headers);
        for (int i = 0; i < capacity; i++) {
            final int h = i * MMSGHDR_SIZE;
            headers.putLong(h + MSG_NAME, headersAddress + nameBase + (long) i * LinuxUdp.SOCKADDR_IN_SIZE);
            headers.putInt(h + MSG_NAMELEN, LinuxUdp.SOCKADDR_IN_SIZE);
            headers.putLong(h + MSG_IOV, headersAddress + iovBase + (long) i * IOVEC_SIZE);
            headers.putLong(h + MSG_IOVLEN, 1);
            headers.putLong(h + MSG_CONTROL, 0);
            headers.putLong(h + MSG_CONTROLLEN, 0);
            headers.putInt(h + MSG_FLAGS, 0);
            headers.putInt(h + MSG_LEN, 0);
            final int v = iovBase + i * IOVEC_SIZE;
            headers.putLong(v, packetsAddress + (long) i * slotSize);
            headers.putLong(v + IOV_LEN, slotSize);
            final int n = nameBase + i * LinuxUdp.SOCKADDR_IN_SIZE;
            headers.putShort(n, (short) LinuxUdp.AF_INET);
        }
    }

    int capacity() {
        return capacity;
    }

    ByteBuffer packets() {
        return packets;
    }

    long packetsAddress() {
        return packetsAddress;
    }

    int slotOffset(final int slot) {
        return slot * slotSize;
    }

    int slotSize() {
        return slotSize;
    }

    /** Address of entry {@code slot} of the mmsghdr array. */
    long messageAddress(final int slot) {
        return headersAddress + (long) slot * MMSGHDR_SIZE;
    }

    /** Prepares entries 0..count-1 for a receive: full slot length, full address length. */
    void resetForReceive(final int count) {
        for (int i = 0; i < count; i++) {
            headers.putInt(i * MMSGHDR_SIZE + MSG_NAMELEN, LinuxUdp.SOCKADDR_IN_SIZE);
        }
    }

    /** Bytes received into slot {@code slot} by the last recvmmsg. */
    int receivedLength(final int slot) {
        return headers.getInt(slot * MMSGHDR_SIZE + MSG_LEN);
    }

    /** Whether the kernel cut the datagram in slot {@code slot} ({@code MSG_TRUNC}). */
    boolean truncated(final int slot) {
        return (headers.getInt(slot * MMSGHDR_SIZE + MSG_FLAGS) & LinuxUdp.MSG_TRUNC) != 0;
    }

    /** Sender IPv4 address of slot {@code slot}, int form. */
    int senderAddress(final int slot) {
        final int n = nameBase + slot * LinuxUdp.SOCKADDR_IN_SIZE;
        return toNetworkOrder(headers.getInt(n + 4)); // sin_addr is big-endian; the buffer is in native order
    }

    /** Sets the destination and the payload length of slot {@code slot} for a send. */
    void prepareSend(final int slot, final int length, final int address, final int port) {
        headers.putLong(iovBase + slot * IOVEC_SIZE + IOV_LEN, length);
        final int n = nameBase + slot * LinuxUdp.SOCKADDR_IN_SIZE;
        headers.putShort(n + 2, LITTLE_ENDIAN ? Short.reverseBytes((short) port) : (short) port);
        headers.putInt(n + 4, toNetworkOrder(address));
    }

    /** Payload length set for slot {@code slot} by {@link #prepareSend}. */
    int sendLength(final int slot) {
        return (int) headers.getLong(iovBase + slot * IOVEC_SIZE + IOV_LEN);
    }

    private static int toNetworkOrder(final int value) {
        return LITTLE_ENDIAN ? Integer.reverseBytes(value) : value;
    }
}
