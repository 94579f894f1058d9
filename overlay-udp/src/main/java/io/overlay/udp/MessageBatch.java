package io.overlay.udp;

import io.netty.channel.unix.Buffer;
import io.overlay.udp.offload.Iovec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A reusable batch of datagrams for {@code recvmmsg(2)}/{@code sendmmsg(2)}: {@code capacity} packet slots of
 * {@code slotSize} bytes each in one direct buffer, and the matching {@code struct mmsghdr}, {@code struct iovec} and
 * {@code struct sockaddr_in} arrays, pre-linked once, in a second direct buffer (x86-64/aarch64 LP64 layout).
 *
 * <p>Slot {@code i} starts at {@link #slotOffset(int)} of {@link #packets()}; read it with an
 * {@link io.overlay.udp.wire.Ipv4Header} flyweight. Nothing is allocated after construction. Not thread-safe: one per
 * direction per event loop.
 *
 * <p><b>Receiving</b> uses entry {@code i} for slot {@code i}. <b>Sending</b> ({@link #forSending}: no slots of its
 * own) first records each entry's packet address, length and destination ({@link #prepareSendFrom}), then
 * {@link #buildMessages} turns a run of entries into messages: one per entry, or with UDP GSO ({@code UDP_SEGMENT},
 * Linux 4.18+) one per run of consecutive entries to the same peer whose packets all have the first one's length
 * except a shorter last one. The kernel then cuts such a message into exactly those
 * datagrams, so the wire is unchanged (one inner packet per datagram) while the stack is traversed once per run.
 * A sending entry has two iovecs, so a packet may be sent from two places ({@link #prepareSendSplit}: headers and
 * payload); the kernel cuts a GSO message at every {@code UDP_SEGMENT} bytes of the concatenated iovecs, whatever
 * their boundaries (an unused second iovec has length 0).
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
    // struct cmsghdr {size_t cmsg_len; int cmsg_level; int cmsg_type;} + u16 segment size, padded: CMSG_SPACE(2)
    static final int CMSG_SPACE_U16 = 24;
    static final int CMSG_LEN_U16 = 18;
    /**
     * Most segments the kernel takes in one UDP GSO send ({@code UDP_MAX_SEGMENTS}, 64 before Linux 6.13); not the
     * TUN's TSO limit ({@code TunDevice.MAX_GSO_SEGMENTS}).
     */
    static final int MAX_UDP_GSO_SEGMENTS = 64;
    /** Most payload bytes of one UDP GSO send over IPv4: 65535 − 20 (IPv4 header) − 8 (UDP header). */
    static final int MAX_GSO_BYTES = 65507;

    private static final boolean LITTLE_ENDIAN = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    private final int capacity;
    private final int storageSlots;
    private final int slotSize;
    /** iovecs per entry: 1 for receiving, 2 for sending (headers + payload). */
    private final int iovPerSlot;
    private final ByteBuffer packets;
    private final long packetsAddress;
    private final ByteBuffer headers;
    private final long headersAddress;
    private final int iovBase;
    private final int nameBase;
    private final int controlBase;
    private final int[] slotAddress;
    private final int[] slotPort;
    private final int[] slotLength;
    private final int[] messageFirst;
    private final int[] messageSlots;
    private final int[] messageBytes;

    /**
     * Allocates and links a batch.
     *
     * @param capacity number of datagrams, at least 1
     * @param slotSize bytes per packet slot (the largest datagram a slot can take without truncation)
     */
    MessageBatch(final int capacity, final int slotSize) {
        this(capacity, capacity, slotSize);
    }

    /**
     * Allocates and links a batch for sending packets held elsewhere ({@link #prepareSendFrom}): no packet slots.
     *
     * @param capacity number of datagrams, at least 1
     * @return the batch
     */
    static MessageBatch forSending(final int capacity) {
        return new MessageBatch(capacity, 0, 0);
    }

    private MessageBatch(final int capacity, final int storageSlots, final int slotSize) {
        this.capacity = capacity;
        this.slotSize = slotSize;
        this.storageSlots = storageSlots;
        this.iovPerSlot = storageSlots == 0 ? 2 : 1;
        this.packets = storageSlots == 0 ? null
            : ByteBuffer.allocateDirect(storageSlots * slotSize).order(ByteOrder.BIG_ENDIAN);
        this.packetsAddress = packets == null ? 0 : Buffer.memoryAddress(packets);
        this.iovBase = capacity * MMSGHDR_SIZE;
        this.nameBase = iovBase + capacity * iovPerSlot * Iovec.SIZE;
        this.controlBase = nameBase + capacity * LinuxUdp.SOCKADDR_IN_SIZE;
        this.headers = ByteBuffer.allocateDirect(controlBase + capacity * CMSG_SPACE_U16)
            .order(ByteOrder.nativeOrder());
        this.slotAddress = new int[capacity];
        this.slotPort = new int[capacity];
        this.slotLength = new int[capacity];
        this.messageFirst = new int[capacity];
        this.messageSlots = new int[capacity];
        this.messageBytes = new int[capacity];
        this.headersAddress = Buffer.memoryAddress(headers);
        for (int i = 0; i < capacity; i++) {
            final int h = i * MMSGHDR_SIZE;
            headers.putLong(h + MSG_NAME, headersAddress + nameBase + (long) i * LinuxUdp.SOCKADDR_IN_SIZE);
            headers.putInt(h + MSG_NAMELEN, LinuxUdp.SOCKADDR_IN_SIZE);
            headers.putLong(h + MSG_IOV, headersAddress + iovBase + (long) i * iovPerSlot * Iovec.SIZE);
            headers.putLong(h + MSG_IOVLEN, iovPerSlot);
            headers.putLong(h + MSG_CONTROL, 0);
            headers.putLong(h + MSG_CONTROLLEN, 0);
            headers.putInt(h + MSG_FLAGS, 0);
            headers.putInt(h + MSG_LEN, 0);
            final int v = iovBase + i * iovPerSlot * Iovec.SIZE;
            headers.putLong(v, i < storageSlots ? packetsAddress + (long) i * slotSize : 0);
            headers.putLong(v + Iovec.LEN_OFFSET, i < storageSlots ? slotSize : 0);
            if (iovPerSlot == 2) {
                headers.putLong(v + Iovec.SIZE, 0);
                headers.putLong(v + Iovec.SIZE + Iovec.LEN_OFFSET, 0);
            }
            final int n = nameBase + i * LinuxUdp.SOCKADDR_IN_SIZE;
            headers.putShort(n, (short) LinuxUdp.AF_INET);
            final int c = controlBase + i * CMSG_SPACE_U16;
            headers.putLong(c, CMSG_LEN_U16);
            headers.putInt(c + 8, LinuxUdp.SOL_UDP);
            headers.putInt(c + 12, LinuxUdp.UDP_SEGMENT);
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

    /**
     * Prepares entries 0..count-1 for a receive with UDP GRO: as {@link #resetForReceive(int)}, plus a control buffer
     * per entry for the {@code (SOL_UDP, UDP_GRO)} message.
     */
    void resetForGroReceive(final int count) {
        for (int i = 0; i < count; i++) {
            final int h = i * MMSGHDR_SIZE;
            headers.putInt(h + MSG_NAMELEN, LinuxUdp.SOCKADDR_IN_SIZE);
            headers.putLong(h + MSG_CONTROL, headersAddress + controlBase + (long) i * CMSG_SPACE_U16);
            headers.putLong(h + MSG_CONTROLLEN, CMSG_SPACE_U16);
        }
    }

    /**
     * The GRO segment size of the buffer received into slot {@code slot} by the last {@link #resetForGroReceive}
     * receive: every {@code size} bytes of it are one datagram (the last may be shorter).
     *
     * @return the segment size in bytes, or 0 when the kernel sent no {@code UDP_GRO} control message (one datagram)
     */
    int groSegmentSize(final int slot) {
        final int h = slot * MMSGHDR_SIZE;
        if (headers.getLong(h + MSG_CONTROLLEN) < CMSG_LEN_U16) {
            return 0;
        }
        final int c = controlBase + slot * CMSG_SPACE_U16;
        if (headers.getInt(c + 8) != LinuxUdp.SOL_UDP || headers.getInt(c + 12) != LinuxUdp.UDP_GRO) {
            return 0;
        }
        return headers.getInt(c + 16);
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

    /**
     * Sets the destination, the payload address and the payload length of entry {@code slot} for a send of a packet
     * held outside this batch (the memory must stay valid until the send).
     */
    void prepareSendFrom(final int slot, final long memoryAddress, final int length, final int address,
                         final int port) {
        prepareSendSplit(slot, memoryAddress, length, 0, 0, address, port);
    }

    /**
     * As {@link #prepareSendFrom}, for a packet held in two parts: {@code headLength} bytes at {@code head}, then
     * {@code tailLength} bytes at {@code tail} (a sending batch only).
     */
    void prepareSendSplit(final int slot, final long head, final int headLength, final long tail,
                          final int tailLength, final int address, final int port) {
        final int v = iovBase + slot * iovPerSlot * Iovec.SIZE;
        headers.putLong(v, head);
        headers.putLong(v + Iovec.LEN_OFFSET, headLength);
        headers.putLong(v + Iovec.SIZE, tail);
        headers.putLong(v + Iovec.SIZE + Iovec.LEN_OFFSET, tailLength);
        slotAddress[slot] = address;
        slotPort[slot] = port;
        slotLength[slot] = headLength + tailLength;
        final int n = nameBase + slot * LinuxUdp.SOCKADDR_IN_SIZE;
        headers.putShort(n + 2, LITTLE_ENDIAN ? Short.reverseBytes((short) port) : (short) port);
        headers.putInt(n + 4, toNetworkOrder(address));
    }

    /**
     * Writes the send messages for slots {@code from..to-1} (prepared with {@link #prepareSendFrom}) into entries 0.. of
     * the mmsghdr array.
     *
     * @param from first slot
     * @param to one past the last slot
     * @param gso whether runs of equal-size packets to one peer become one UDP GSO message
     * @return the number of messages, to pass to sendmmsg starting at {@link #messageAddress(int) messageAddress(0)}
     */
    int buildMessages(final int from, final int to, final boolean gso) {
        int messages = 0;
        int slot = from;
        while (slot < to) {
            final int first = slot;
            final int size = slotLength[first];
            int bytes = size;
            slot++;
            if (gso) {
                // Extend while the previous packet was full-size and this one goes to the same peer and is not larger.
                while (slot < to && slotLength[slot - 1] == size && slotAddress[slot] == slotAddress[first]
                    && slotPort[slot] == slotPort[first] && slotLength[slot] <= size
                    && slot - first < MAX_UDP_GSO_SEGMENTS && bytes + slotLength[slot] <= MAX_GSO_BYTES) {
                    bytes += slotLength[slot];
                    slot++;
                }
            }
            final int count = slot - first;
            final int h = messages * MMSGHDR_SIZE;
            headers.putLong(h + MSG_NAME, headersAddress + nameBase + (long) first * LinuxUdp.SOCKADDR_IN_SIZE);
            headers.putInt(h + MSG_NAMELEN, LinuxUdp.SOCKADDR_IN_SIZE);
            headers.putLong(h + MSG_IOV, headersAddress + iovBase + (long) first * iovPerSlot * Iovec.SIZE);
            headers.putLong(h + MSG_IOVLEN, (long) count * iovPerSlot);
            if (count > 1) {
                final int c = controlBase + messages * CMSG_SPACE_U16;
                headers.putShort(c + 16, (short) size);
                headers.putLong(h + MSG_CONTROL, headersAddress + c);
                headers.putLong(h + MSG_CONTROLLEN, CMSG_SPACE_U16);
            } else {
                headers.putLong(h + MSG_CONTROL, 0);
                headers.putLong(h + MSG_CONTROLLEN, 0);
            }
            headers.putInt(h + MSG_FLAGS, 0);
            messageFirst[messages] = first;
            messageSlots[messages] = count;
            messageBytes[messages] = bytes;
            messages++;
        }
        return messages;
    }

    /** First slot of message {@code message} of the last {@link #buildMessages}. */
    int messageFirst(final int message) {
        return messageFirst[message];
    }

    /** Packets (slots) in message {@code message}. */
    int messageSlots(final int message) {
        return messageSlots[message];
    }

    /** Payload bytes in message {@code message}. */
    int messageBytes(final int message) {
        return messageBytes[message];
    }

    private static int toNetworkOrder(final int value) {
        return LITTLE_ENDIAN ? Integer.reverseBytes(value) : value;
    }
}
