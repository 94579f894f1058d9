package io.overlay.udp.offload;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import io.overlay.core.testing.Netns;
import io.overlay.tun.NetnsThread;
import java.io.IOException;

/**
 * Test-only socket calls made from inside a test namespace (the socket is created on a {@link NetnsThread} inside the
 * namespace): UDP GSO sends ({@code setsockopt(SOL_UDP, UDP_SEGMENT)}), so the kernel builds
 * USO super-packets, and legacy ethtool ioctls ({@code SIOCETHTOOL}) to switch GRO/TSO on a veth without the
 * {@code ethtool} binary.
 */
final class NsSockets {
    private static final int AF_INET = 2;
    private static final int SOCK_DGRAM = 2;
    private static final int SOL_UDP = 17;
    private static final int UDP_SEGMENT = 103;

    static {
        Native.register(Platform.C_LIBRARY_NAME);
    }

    private static native int close(int fd) throws LastErrorException;

    private static native int socket(int domain, int type, int protocol) throws LastErrorException;

    private static native int setsockopt(int fd, int level, int name, Pointer value, int len)
        throws LastErrorException;

    private static native NativeLong sendto(int fd, Pointer buf, NativeLong len, int flags, Pointer addr, int addrlen)
        throws LastErrorException;

    /** {@code ETHTOOL_STSO}: set TCP segmentation offload (all TSO features). */
    static final int ETHTOOL_STSO = 0x1f;
    /** {@code ETHTOOL_SGRO}: set generic receive offload. */
    static final int ETHTOOL_SGRO = 0x2c;
    private static final long SIOCETHTOOL = 0x8946L;

    private static native int ioctl(int fd, NativeLong request, Pointer arg) throws LastErrorException;

    private NsSockets() {
    }

    /**
     * Runs one legacy ethtool "set" command ({@code struct ethtool_value {cmd, data}}) on an interface of {@code ns}.
     *
     * @param cmd e.g. {@link #ETHTOOL_SGRO}
     * @param value the data word, e.g. 1 to switch on
     */
    static void ethtool(final Netns ns, final String ifname, final int cmd, final int value) throws IOException {
        inNamespace(ns, () -> {
            final int fd = socket(AF_INET, SOCK_DGRAM, 0);
            try {
                final Memory ev = new Memory(8);
                ev.setInt(0, cmd);
                ev.setInt(4, value);
                final Memory ifr = new Memory(40);
                ifr.clear();
                final byte[] n = ifname.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                ifr.write(0, n, 0, n.length);
                ifr.setPointer(16, ev);
                ioctl(fd, new NativeLong(SIOCETHTOOL), ifr);
            } finally {
                close(fd);
            }
        });
    }

    private interface NsAction {
        void run() throws LastErrorException;
    }

    private static void inNamespace(final Netns ns, final NsAction action) throws IOException {
        try {
            NetnsThread.call(ns.name(), () -> {
                action.run();
                return null;
            });
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("socket call in " + ns.name() + " failed", e);
        }
    }

    /**
     * Sends {@code payloads.length} UDP GSO writes from {@code ns} to {@code dst:port}, each cut by the kernel into
     * {@code segment}-byte datagrams.
     *
     * @param dst destination address, first octet most significant (must be routed to a test TUN)
     */
    static void send(final Netns ns, final int dst, final int port, final int segment, final byte[][] payloads)
        throws IOException {
        inNamespace(ns, () -> {
            final int fd = socket(AF_INET, SOCK_DGRAM, 0);
            try {
                final Memory seg = new Memory(4);
                seg.setInt(0, segment);
                setsockopt(fd, SOL_UDP, UDP_SEGMENT, seg, 4);
                final Memory sa = new Memory(16);
                sa.clear();
                sa.setShort(0, (short) AF_INET);
                sa.setByte(2, (byte) (port >>> 8));
                sa.setByte(3, (byte) port);
                sa.setByte(4, (byte) (dst >>> 24));
                sa.setByte(5, (byte) (dst >>> 16));
                sa.setByte(6, (byte) (dst >>> 8));
                sa.setByte(7, (byte) dst);
                for (byte[] p : payloads) {
                    final Memory m = new Memory(p.length);
                    m.write(0, p, 0, p.length);
                    sendto(fd, m, new NativeLong(p.length), 0, sa, 16);
                }
            } finally {
                close(fd);
            }
        });
    }

}
