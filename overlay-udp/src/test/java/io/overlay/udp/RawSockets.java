package io.overlay.udp;

import com.sun.jna.Library;
import com.sun.jna.Native;
import io.overlay.core.Ipv4;
import io.overlay.tun.NetnsThread;
import java.io.IOException;
import java.util.Arrays;

/**
 * Raw IPv4 sockets for tests: inject a hand-made IP packet ({@code IPPROTO_RAW}, which implies {@code IP_HDRINCL})
 * and capture whole incoming UDP packets, outer header included ({@code SOCK_RAW, IPPROTO_UDP}).
 */
final class RawSockets {
    static final int IPPROTO_UDP = 17;
    static final int IPPROTO_RAW = 255;

    /** The few libc calls needed (interface mapping: test code, speed irrelevant). */
    interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        int socket(int domain, int type, int protocol);

        int setsockopt(int fd, int level, int name, byte[] value, int length);

        long sendto(int fd, byte[] buffer, long length, int flags, byte[] address, int addressLength);

        long recv(int fd, byte[] buffer, long length, int flags);

        int close(int fd);
    }

    private RawSockets() {
    }

    /** Opens a raw socket inside {@code namespace} with a receive timeout of {@code timeoutMillis}. */
    static int open(final String namespace, final int protocol, final int timeoutMillis) throws Exception {
        return NetnsThread.call(namespace, () -> {
            final int fd = LibC.INSTANCE.socket(2, 3, protocol); // AF_INET, SOCK_RAW
            if (fd < 0) {
                throw new IOException("raw socket failed: errno " + Native.getLastError());
            }
            final byte[] timeval = new byte[16]; // struct timeval {long tv_sec; long tv_usec;}, little-endian
            putLong(timeval, 0, timeoutMillis / 1000);
            putLong(timeval, 8, (timeoutMillis % 1000) * 1000L);
            if (LibC.INSTANCE.setsockopt(fd, 1, 20, timeval, 16) != 0) { // SOL_SOCKET, SO_RCVTIMEO
                throw new IOException("SO_RCVTIMEO failed: errno " + Native.getLastError());
            }
            return fd;
        });
    }

    /** Sends {@code packet} (a whole IPv4 packet) to its destination through a raw socket. */
    static void send(final int fd, final byte[] packet, final int destination) throws IOException {
        final byte[] sockaddr = new byte[16];
        sockaddr[0] = 2; // AF_INET
        sockaddr[4] = (byte) (destination >>> 24);
        sockaddr[5] = (byte) (destination >>> 16);
        sockaddr[6] = (byte) (destination >>> 8);
        sockaddr[7] = (byte) destination;
        final long n = LibC.INSTANCE.sendto(fd, packet, packet.length, 0, sockaddr, 16);
        if (n != packet.length) {
            throw new IOException("raw send to " + Ipv4.format(destination) + " failed: errno " + Native.getLastError());
        }
    }

    /** Receives one packet, or fails after the socket's timeout. */
    static byte[] receive(final int fd) throws IOException {
        final byte[] buffer = new byte[65536];
        final long n = LibC.INSTANCE.recv(fd, buffer, buffer.length, 0);
        if (n < 0) {
            throw new IOException("raw receive failed (timeout or error): errno " + Native.getLastError());
        }
        return Arrays.copyOf(buffer, (int) n);
    }

    static void close(final int fd) {
        if (fd >= 0) {
            LibC.INSTANCE.close(fd);
        }
    }

    private static void putLong(final byte[] b, final int at, final long v) {
        for (int i = 0; i < 8; i++) {
            b[at + i] = (byte) (v >>> (8 * i));
        }
    }
}
