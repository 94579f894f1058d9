package io.overlay.tun;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The 40-byte {@code struct ifreq} of 64-bit Linux as used by {@code TUNSETIFF}: {@code ifr_name[16]}
 * (NUL-terminated) at offset 0, then a 24-byte union whose {@code short ifr_flags} sits at offset 16 in host byte
 * order. The kernel copies all 40 bytes in and, after {@code TUNSETIFF}, back out with the name it chose
 * ({@code flannel%d} becomes {@code flannel0}), so the buffer must be the full 40 bytes ({@code struct ifreq} in
 * the kernel's {@code include/uapi/linux/if.h}; the copy back in {@code __tun_chr_ioctl}, {@code drivers/net/tun.c}).
 */
final class Ifreq {
    /** {@code sizeof(struct ifreq)} on 64-bit Linux, in bytes. */
    static final int SIZE = 40;
    /** Offset of {@code ifr_flags} (and of the rest of the union), in bytes. */
    static final int FLAGS_OFFSET = 16;

    /** {@code IFF_TUN}: layer-3 device. */
    static final short IFF_TUN = 0x0001;
    /** {@code IFF_TAP}: layer-2 device. */
    static final short IFF_TAP = 0x0002;
    /** {@code IFF_MULTI_QUEUE}: one device, several queue descriptors. */
    static final short IFF_MULTI_QUEUE = 0x0100;
    /** {@code IFF_NO_PI}: no 4-byte packet-information prefix; every read is one raw IP packet. */
    static final short IFF_NO_PI = 0x1000;
    /** {@code IFF_VNET_HDR}: every read and write starts with a {@code virtio_net_hdr} (offloads). */
    static final short IFF_VNET_HDR = 0x4000;

    private Ifreq() {
    }

    /**
     * Encodes an ifreq for {@code TUNSETIFF}.
     *
     * @param nameBytes the interface name or template, 1..15 bytes, already validated
     * @param flags the {@code ifr_flags} value, e.g. {@code IFF_TUN|IFF_NO_PI}
     * @return a new direct, native-order buffer of exactly {@link #SIZE} bytes, position 0
     */
    static ByteBuffer encode(final byte[] nameBytes, final short flags) {
        final ByteBuffer b = ByteBuffer.allocateDirect(SIZE).order(ByteOrder.nativeOrder());
        b.put(0, nameBytes);
        b.putShort(FLAGS_OFFSET, flags);
        return b;
    }

    /**
     * Reads the NUL-terminated name at offset 0 (the name the kernel wrote back).
     *
     * @param ifreq a buffer of {@link #SIZE} bytes
     * @return the name, at most 15 characters
     */
    static String name(final ByteBuffer ifreq) {
        int n = 0;
        while (n < InterfaceName.IFNAMSIZ && ifreq.get(n) != 0) {
            n++;
        }
        final byte[] bytes = new byte[n];
        ifreq.get(0, bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /**
     * Reads {@code ifr_flags}.
     *
     * @param ifreq a buffer of {@link #SIZE} bytes in native order
     * @return the flags
     */
    static short flags(final ByteBuffer ifreq) {
        return ifreq.getShort(FLAGS_OFFSET);
    }
}
