package io.overlay.udp;

import static io.overlay.testing.TestLibc.SK_MEMINFO_DROPS;
import static io.overlay.testing.TestLibc.SOL_SOCKET;
import static io.overlay.testing.TestLibc.SO_MEMINFO;
import static io.overlay.testing.TestLibc.SO_RCVBUF;
import static io.overlay.testing.TestLibc.SO_RCVBUFFORCE;
import static io.overlay.testing.TestLibc.SO_RCVTIMEO;

import com.sun.jna.Native;
import io.overlay.core.net.Ipv4;
import io.overlay.testing.TestLibc;
import io.overlay.tun.NetnsThread;
import java.io.IOException;
import java.util.Arrays;

/**
 * Raw IPv4 sockets for tests: inject a hand-made IP packet ({@code IPPROTO_RAW}, which implies {@code IP_HDRINCL})
 * and capture whole incoming packets of one protocol, IP header included ({@code SOCK_RAW, IPPROTO_UDP} or
 * {@code IPPROTO_ICMP}). A capture socket that must hold a whole flood gets a larger receive buffer
 * ({@link #open(String, int, int, int)}) and reports the packets the kernel dropped for want of room ({@link #drops}),
 * so a count compared against it stays exact.
 */
final class RawSockets {
    static final int IPPROTO_UDP = TestLibc.IPPROTO_UDP;
    static final int IPPROTO_RAW = TestLibc.IPPROTO_RAW;
    private static final TestLibc LIBC = TestLibc.INSTANCE;

    private RawSockets() {
    }

    /** Opens a raw socket inside {@code namespace} with a receive timeout of {@code timeoutMillis}. */
    static int open(final String namespace, final int protocol, final int timeoutMillis) throws Exception {
        return open(namespace, protocol, timeoutMillis, 0);
    }

    /**
     * Opens a raw socket inside {@code namespace} with a receive timeout of {@code timeoutMillis} and, if
     * {@code receiveBufferBytes} is positive, a receive buffer of that many bytes: {@code SO_RCVBUFFORCE} (root,
     * CAP_NET_ADMIN; above {@code net.core.rmem_max}), else {@code SO_RCVBUF}. The kernel accounts each queued packet
     * by its buffer's true size (800 bytes or more even for a small ICMP message), so the default 212992 bytes hold
     * only about 250 packets.
     *
     * @throws IOException if a call fails or the kernel grants a smaller buffer than asked (errno or sizes in the
     *     message); the socket is then closed
     */
    static int open(final String namespace, final int protocol, final int timeoutMillis, final int receiveBufferBytes)
        throws Exception {
        return NetnsThread.call(namespace, () -> {
            final int fd = LIBC.socket(TestLibc.AF_INET, TestLibc.SOCK_RAW, protocol);
            if (fd < 0) {
                throw new IOException("raw socket failed: errno " + Native.getLastError());
            }
            try {
                final byte[] timeval = new byte[16]; // struct timeval {long tv_sec; long tv_usec;}, little-endian
                putLong(timeval, 0, timeoutMillis / 1000);
                putLong(timeval, 8, (timeoutMillis % 1000) * 1000L);
                if (LIBC.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval, 16) != 0) {
                    throw new IOException("SO_RCVTIMEO failed: errno " + Native.getLastError());
                }
                if (receiveBufferBytes > 0) {
                    setReceiveBuffer(fd, receiveBufferBytes);
                }
            } catch (IOException | RuntimeException e) {
                LIBC.close(fd);
                throw e;
            }
            return fd;
        });
    }

    /** Sets the receive buffer (forced if allowed) and checks what the kernel granted (it reports twice the value). */
    private static void setReceiveBuffer(final int fd, final int bytes) throws IOException {
        final byte[] value = new byte[4];
        putInt(value, bytes);
        if (LIBC.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, value, 4) != 0
            && LIBC.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, 4) != 0) {
            throw new IOException("SO_RCVBUF " + bytes + " failed: errno " + Native.getLastError());
        }
        final int[] granted = new int[1];
        if (LIBC.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, granted, new int[] {4}) != 0) {
            throw new IOException("getsockopt SO_RCVBUF failed: errno " + Native.getLastError());
        }
        if (granted[0] < bytes) {
            throw new IOException("receive buffer of " + granted[0] + " bytes granted, " + bytes + " asked: run as "
                + "root (SO_RCVBUFFORCE) or raise net.core.rmem_max");
        }
    }

    /**
     * Returns how many packets the kernel dropped at this socket ({@code SK_MEMINFO_DROPS} of {@code SO_MEMINFO}),
     * mostly because its receive buffer was full.
     *
     * @throws IOException if the kernel does not report it (errno or length in the message)
     */
    static long drops(final int fd) throws IOException {
        final int[] meminfo = new int[SK_MEMINFO_DROPS + 1];
        final int[] length = {4 * meminfo.length};
        if (LIBC.getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, length) != 0) {
            throw new IOException("getsockopt SO_MEMINFO failed: errno " + Native.getLastError());
        }
        if (length[0] < 4 * meminfo.length) {
            throw new IOException("SO_MEMINFO returned " + length[0] + " bytes, no drop counter (kernel too old)");
        }
        return Integer.toUnsignedLong(meminfo[SK_MEMINFO_DROPS]);
    }

    /** Sends {@code packet} (a whole IPv4 packet) to its destination through a raw socket. */
    static void send(final int fd, final byte[] packet, final int destination) throws IOException {
        final byte[] sockaddr = new byte[16];
        sockaddr[0] = TestLibc.AF_INET; // sa_family, little-endian
        sockaddr[4] = (byte) (destination >>> 24);
        sockaddr[5] = (byte) (destination >>> 16);
        sockaddr[6] = (byte) (destination >>> 8);
        sockaddr[7] = (byte) destination;
        final long n = LIBC.sendto(fd, packet, packet.length, 0, sockaddr, 16);
        if (n != packet.length) {
            throw new IOException("raw send to " + Ipv4.format(destination) + " failed: errno " + Native.getLastError());
        }
    }

    /** Receives one packet, or fails after the socket's timeout. */
    static byte[] receive(final int fd) throws IOException {
        final byte[] buffer = new byte[65536];
        final long n = LIBC.recv(fd, buffer, buffer.length, 0);
        if (n < 0) {
            throw new IOException("raw receive failed (timeout or error): errno " + Native.getLastError());
        }
        return Arrays.copyOf(buffer, (int) n);
    }

    static void close(final int fd) {
        if (fd >= 0) {
            LIBC.close(fd);
        }
    }

    private static void putInt(final byte[] b, final int v) {
        for (int i = 0; i < 4; i++) {
            b[i] = (byte) (v >>> (8 * i)); // host order, little-endian (x86-64, aarch64)
        }
    }

    private static void putLong(final byte[] b, final int at, final long v) {
        for (int i = 0; i < 8; i++) {
            b[at + i] = (byte) (v >>> (8 * i));
        }
    }
}
