package io.overlay.udp;

import static io.overlay.testing.TestLibc.SOL_SOCKET;
import static io.overlay.testing.TestLibc.SO_RCVBUFFORCE;
import static io.overlay.testing.TestLibc.SO_RCVTIMEO;

import com.sun.jna.Native;
import io.overlay.testing.Netns;
import io.overlay.testing.TestLibc;
import io.overlay.tun.NetnsThread;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code AF_PACKET} sockets on a TUN device inside a test namespace: one that captures every packet the device hands
 * to the kernel (what an engine wrote into it, {@code PACKET_IGNORE_OUTGOING}), and one that writes arbitrary bytes
 * as a packet leaving through the device (the engine reads them as if the kernel had routed them there), which no
 * IP socket can do: a raw IP socket always fixes the header's length and checksum.
 */
final class PacketSockets {
    private static final TestLibc LIBC = TestLibc.INSTANCE;
    private static final int AF_PACKET = 17;
    private static final int SOL_PACKET = 263;
    private static final int PACKET_IGNORE_OUTGOING = 23;
    private static final int PACKET_VNET_HDR = 15;
    private static final int ETH_P_ALL = 0x0003;
    private static final int ETH_P_IP = 0x0800;

    private PacketSockets() {
    }

    /** The interface index of {@code ifname} in {@code ns}. */
    static int ifindex(final Netns ns, final String ifname) throws IOException {
        final String out = ns.exec("ip", "-o", "link", "show", "dev", ifname);
        return Integer.parseInt(out.substring(0, out.indexOf(':')).trim());
    }

    /** A socket capturing the packets {@code ifname} receives (not those it sends), with a 32 MiB buffer. */
    static int capture(final Netns ns, final String ifname, final int timeoutMillis) throws Exception {
        final int index = ifindex(ns, ifname);
        return NetnsThread.call(ns.name(), () -> {
            final int fd = LIBC.socket(AF_PACKET, TestLibc.SOCK_DGRAM, htons(ETH_P_ALL));
            if (fd < 0) {
                throw new IOException("AF_PACKET socket failed: errno " + Native.getLastError());
            }
            try {
                check(LIBC.setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, new int[] {1}, 4), "IGNORE_OUTGOING");
                check(LIBC.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, new int[] {32 << 20}, 4), "SO_RCVBUFFORCE");
                final byte[] timeval = new byte[16];
                timeval[0] = (byte) (timeoutMillis / 1000);
                final long micros = (timeoutMillis % 1000) * 1000L;
                for (int i = 0; i < 8; i++) {
                    timeval[8 + i] = (byte) (micros >>> (8 * i));
                }
                check(LIBC.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval, 16), "SO_RCVTIMEO");
                check(LIBC.bind(fd, sockaddr(ETH_P_ALL, index), 20), "bind to " + ifname);
            } catch (IOException | RuntimeException e) {
                LIBC.close(fd);
                throw e;
            }
            return fd;
        });
    }

    /** Every packet the capture socket holds, until its timeout. */
    static List<byte[]> drain(final int fd) {
        final List<byte[]> out = new ArrayList<>();
        while (true) {
            try {
                out.add(RawSockets.receive(fd));
            } catch (IOException timeout) {
                return out;
            }
        }
    }

    /** A socket that writes packets out through a device ({@link #send}). */
    static int writer(final Netns ns) throws Exception {
        return writer(ns, TestLibc.SOCK_DGRAM);
    }

    /** As {@link #writer(Netns)}, of socket type {@code type} (a TUN has no link header: both write the packet). */
    private static int writer(final Netns ns, final int type) throws Exception {
        return NetnsThread.call(ns.name(), () -> {
            final int fd = LIBC.socket(AF_PACKET, type, 0);
            if (fd < 0) {
                throw new IOException("AF_PACKET socket failed: errno " + Native.getLastError());
            }
            return fd;
        });
    }

    /**
     * A socket that writes packets out through a device, each after a {@code struct virtio_net_hdr}
     * ({@code PACKET_VNET_HDR}): GSO super-packets and partial checksums, which the kernel checks as it checks a
     * guest's and hands to a TUN with offloads unchanged.
     */
    static int vnetWriter(final Netns ns) throws Exception {
        final int fd = writer(ns, TestLibc.SOCK_RAW); // the kernel takes a vnet header on SOCK_RAW only
        if (LIBC.setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, new int[] {1}, 4) != 0) {
            final int errno = Native.getLastError();
            LIBC.close(fd);
            throw new IOException("PACKET_VNET_HDR failed: errno " + errno);
        }
        return fd;
    }

    /**
     * Writes {@code bytes} as one packet (protocol IPv4 whatever the bytes are) out through interface {@code index}.
     *
     * @return {@code true} if the kernel took it whole, {@code false} if it refused it (e.g. longer than the MTU)
     */
    static boolean send(final int fd, final int index, final byte[] bytes) {
        return LIBC.sendto(fd, bytes, bytes.length, 0, sockaddr(ETH_P_IP, index), 20) == bytes.length;
    }

    private static byte[] sockaddr(final int protocol, final int index) {
        final byte[] a = new byte[20]; // struct sockaddr_ll
        a[0] = (byte) AF_PACKET; // sll_family, host order
        a[2] = (byte) (protocol >>> 8); // sll_protocol, network order
        a[3] = (byte) protocol;
        for (int i = 0; i < 4; i++) {
            a[4 + i] = (byte) (index >>> (8 * i)); // sll_ifindex, host order
        }
        return a;
    }

    private static int htons(final int v) {
        return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
    }

    private static void check(final int rc, final String what) throws IOException {
        if (rc != 0) {
            throw new IOException(what + " failed: errno " + Native.getLastError());
        }
    }
}
