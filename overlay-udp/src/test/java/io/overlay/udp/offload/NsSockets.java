package io.overlay.udp.offload;

import com.sun.jna.Memory;
import io.overlay.testing.Netns;
import io.overlay.testing.TestLibc;
import io.overlay.tun.NetnsThread;
import java.io.IOException;

/**
 * Test-only socket calls made from inside a test namespace (the socket is created on a {@link NetnsThread} inside the
 * namespace): UDP GSO sends ({@code setsockopt(SOL_UDP, UDP_SEGMENT)}), so the kernel builds
 * USO super-packets, and legacy ethtool ioctls ({@code SIOCETHTOOL}) to switch GRO/TSO on a veth without the
 * {@code ethtool} binary.
 */
final class NsSockets {
    /** {@link TestLibc#ETHTOOL_STSO}: set TCP segmentation offload (all TSO features). */
    static final int ETHTOOL_STSO = TestLibc.ETHTOOL_STSO;
    /** {@link TestLibc#ETHTOOL_SGRO}: set generic receive offload. */
    static final int ETHTOOL_SGRO = TestLibc.ETHTOOL_SGRO;

    private static final TestLibc C = TestLibc.INSTANCE;

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
            final int fd = (int) TestLibc.check(C.socket(TestLibc.AF_INET, TestLibc.SOCK_DGRAM, 0), "socket");
            try {
                final Memory ev = new Memory(8);
                ev.setInt(0, cmd);
                ev.setInt(4, value);
                final Memory ifr = new Memory(TestLibc.IFREQ_SIZE);
                ifr.clear();
                final byte[] n = ifname.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                ifr.write(0, n, 0, n.length);
                ifr.setPointer(TestLibc.IFREQ_UNION, ev);
                TestLibc.check(C.ioctl(fd, TestLibc.SIOCETHTOOL, ifr), "SIOCETHTOOL " + cmd + " on " + ifname);
            } finally {
                C.close(fd);
            }
        });
    }

    private interface NsAction {
        void run() throws IOException;
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
            final int fd = (int) TestLibc.check(C.socket(TestLibc.AF_INET, TestLibc.SOCK_DGRAM, 0), "socket");
            try {
                TestLibc.check(C.setsockopt(fd, TestLibc.IPPROTO_UDP, TestLibc.UDP_SEGMENT, new int[] {segment}, 4),
                    "setsockopt UDP_SEGMENT " + segment);
                final byte[] sa = new byte[16];
                sa[0] = TestLibc.AF_INET; // sa_family, little-endian
                sa[2] = (byte) (port >>> 8);
                sa[3] = (byte) port;
                sa[4] = (byte) (dst >>> 24);
                sa[5] = (byte) (dst >>> 16);
                sa[6] = (byte) (dst >>> 8);
                sa[7] = (byte) dst;
                for (byte[] p : payloads) {
                    TestLibc.check(C.sendto(fd, p, p.length, 0, sa, sa.length), "sendto");
                }
            } finally {
                C.close(fd);
            }
        });
    }
}
