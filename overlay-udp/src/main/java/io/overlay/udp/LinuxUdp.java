package io.overlay.udp;

import com.sun.jna.LastErrorException;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import io.overlay.core.net.Ipv4;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The UDP socket system calls the engine needs, bound with JNA direct mapping (Linux x86-64/aarch64 ABI).
 *
 * <p><b>Why not Netty's datagram channel or {@code io.netty.channel.unix.Socket}?</b> The packet path needs, per
 * datagram and without allocating: the sender's IPv4 address (known-peer check), the {@code MSG_TRUNC} flag
 * (oversized datagrams are dropped, never cut) and batching. {@code EpollDatagramChannel} hands up a
 * {@code DatagramPacket} with an {@code InetSocketAddress} per datagram; {@code Socket.recvFrom} allocates a
 * {@code DatagramSocketAddress} per call and {@code Socket.sendTo} two byte arrays. {@code recvmmsg(2)} and
 * {@code sendmmsg(2)} over pre-built {@code mmsghdr} arrays in a direct buffer ({@link MessageBatch}) give all three
 * with one call per batch; the JNA call costs tens of nanoseconds, amortised over up to a batch of packets. The socket
 * fd is then registered on the same Netty epoll loop as the TUN fd ({@link FdHandle}).
 *
 * <p>The hot-path methods ({@link #recvmmsg}, {@link #sendmmsg}) take raw addresses as {@code long}, do not throw and
 * return -1 on error with the code in {@link Native#getLastError()}; the set-up methods throw {@link IOException}.
 */
final class LinuxUdp {
    static final int AF_INET = 2;
    static final int SOCK_DGRAM = 2;
    static final int SOCK_NONBLOCK = 0x800;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int SOL_SOCKET = 1;
    static final int SO_SNDBUF = 7;
    static final int SO_RCVBUF = 8;
    static final int SO_REUSEPORT = 15;
    static final int SO_SNDBUFFORCE = 32;
    /** {@code SO_ATTACH_REUSEPORT_CBPF} (asm-generic/socket.h): a classic BPF program picks the reuseport socket. */
    static final int SO_ATTACH_REUSEPORT_CBPF = 51;
    /** {@code SKF_NET_OFF} (linux/filter.h): a classic BPF load offset relative to the network header. */
    static final int SKF_NET_OFF = -0x100000;
    static final int SO_RCVBUFFORCE = 33;
    static final int MSG_TRUNC = 0x20;
    /** {@code SOL_UDP}: socket option and control message level of UDP. */
    static final int SOL_UDP = 17;
    /** {@code UDP_GRO} (linux/udp.h): receive coalesced datagrams, segment size in a control message. */
    static final int UDP_GRO = 104;
    /** {@code UDP_SEGMENT} (linux/udp.h): GSO segment size, as a socket option or a control message. */
    static final int UDP_SEGMENT = 103;
    static final int MSG_DONTWAIT = 0x40;
    static final int EAGAIN = 11;
    /** {@code EIO}: the device or driver cannot segment (UDP GSO refused). */
    static final int EIO = 5;
    /** {@code EINVAL}: bad {@code UDP_SEGMENT} size or count for this socket/route. */
    static final int EINVAL = 22;
    /**
     * {@code EMSGSIZE}: a UDP GSO send whose segments exceed the path MTU (recent kernels, 6.18 here; older ones
     * answer {@link #EINVAL}); a single datagram that size would be fragmented instead.
     */
    static final int EMSGSIZE = 90;
    /** {@code EOPNOTSUPP}: UDP GSO not supported. */
    static final int EOPNOTSUPP = 95;
    /** {@code sizeof(struct sockaddr_in)}. */
    static final int SOCKADDR_IN_SIZE = 16;

    static {
        Native.register(LinuxUdp.class, Platform.C_LIBRARY_NAME);
    }

    private LinuxUdp() {
    }

    /**
     * Returns whether a failed multi-datagram (UDP GSO) send means the kernel refuses GSO itself, rather than a
     * problem of this destination (EPERM from a firewall, ENETUNREACH, EHOSTUNREACH...), which must not switch GSO off
     * for the whole loop.
     *
     * @param errno the send's error code
     * @return {@code true} for EINVAL, EIO and EOPNOTSUPP
     */
    static boolean isGsoRefusal(final int errno) {
        return errno == EINVAL || errno == EIO || errno == EOPNOTSUPP;
    }

    private static native int socket(int domain, int type, int protocol) throws LastErrorException;

    private static native int setsockopt(int fd, int level, int name, int[] value, int length)
        throws LastErrorException;

    private static native int setsockopt(int fd, int level, int name, ByteBuffer value, int length)
        throws LastErrorException;

    private static native int bind(int fd, byte[] address, int length) throws LastErrorException;

    private static native int close(int fd);

    /**
     * {@code recvmmsg(fd, msgvec, vlen, flags, NULL)}.
     *
     * @param fd the socket
     * @param msgvec address of an {@code mmsghdr} array
     * @param vlen entries available
     * @param flags e.g. {@link #MSG_DONTWAIT}
     * @param timeout 0 (NULL)
     * @return messages received, or -1 (errno in {@link Native#getLastError()})
     */
    static native int recvmmsg(int fd, long msgvec, int vlen, int flags, long timeout);

    /**
     * {@code sendmmsg(fd, msgvec, vlen, flags)}.
     *
     * @param fd the socket
     * @param msgvec address of the first {@code mmsghdr} to send
     * @param vlen messages to send
     * @param flags e.g. {@link #MSG_DONTWAIT}
     * @return messages sent (the next one failed if fewer than vlen), or -1 if the first failed
     */
    static native int sendmmsg(int fd, long msgvec, int vlen, int flags);

    /**
     * Opens a non-blocking, close-on-exec IPv4 UDP socket in the calling thread's network namespace, sets its buffer
     * sizes and {@code SO_REUSEPORT} if asked, and binds it.
     *
     * @param address the local address, int form, 0 for the wildcard
     * @param port the local port, 1..65535
     * @param reusePort whether to set {@code SO_REUSEPORT} (one socket per event loop on the same port)
     * @param bufferBytes requested {@code SO_RCVBUF}/{@code SO_SNDBUF} in bytes (forced above the sysctl limits when
     *     the process has CAP_NET_ADMIN, else capped by the kernel)
     * @return the socket's file descriptor
     * @throws IOException if a step fails; the message names the address, port and the kernel's error
     */
    static int openBound(final int address, final int port, final boolean reusePort, final int bufferBytes)
        throws IOException {
        final String where = Ipv4.format(address) + ":" + port;
        final int fd;
        try {
            fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        } catch (LastErrorException e) {
            throw new IOException("cannot create a UDP socket for " + where + ": " + e.getMessage(), e);
        }
        try {
            if (reusePort) {
                setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, new int[] {1}, 4);
            }
            setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, bufferBytes);
            setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, bufferBytes);
            final byte[] sockaddr = new byte[SOCKADDR_IN_SIZE];
            sockaddr[0] = (byte) AF_INET; // sa_family_t in host (little-endian) order
            sockaddr[2] = (byte) (port >>> 8);
            sockaddr[3] = (byte) port;
            sockaddr[4] = (byte) (address >>> 24);
            sockaddr[5] = (byte) (address >>> 16);
            sockaddr[6] = (byte) (address >>> 8);
            sockaddr[7] = (byte) address;
            bind(fd, sockaddr, sockaddr.length);
            return fd;
        } catch (LastErrorException e) {
            close(fd);
            throw new IOException("cannot bind the UDP socket to " + where + ": " + e.getMessage(), e);
        }
    }

    /**
     * Switches UDP GRO on for a socket ({@code setsockopt(SOL_UDP, UDP_GRO, 1)}, Linux 5.0+): the kernel may then
     * deliver a run of datagrams of one sender as one coalesced buffer with the segment size in a
     * {@code (SOL_UDP, UDP_GRO)} control message ({@link MessageBatch#groSegmentSize}).
     *
     * @param fd the socket
     * @return {@code true} if the kernel accepted it, {@code false} (errno ignored) if not
     */
    static boolean enableGro(final int fd) {
        try {
            setsockopt(fd, SOL_UDP, UDP_GRO, new int[] {1}, 4);
            return true;
        } catch (LastErrorException e) {
            return false;
        }
    }

    /**
     * Tells whether the kernel knows UDP GSO: {@code setsockopt(SOL_UDP, UDP_SEGMENT, 0)} (a no-op value) succeeds
     * from Linux 4.18 on.
     *
     * @param fd a UDP socket
     * @return {@code true} if {@code UDP_SEGMENT} is supported
     */
    static boolean supportsGso(final int fd) {
        try {
            setsockopt(fd, SOL_UDP, UDP_SEGMENT, new int[] {0}, 4);
            return true;
        } catch (LastErrorException e) {
            return false;
        }
    }

    /**
     * Makes a {@code SO_REUSEPORT} group of {@code sockets} UDP sockets pick the receiving socket by the datagram's
     * source port, {@code (source port − basePort) mod sockets}, instead of by the kernel's 4-tuple hash: a peer whose
     * loop {@code i} sends from port {@code basePort + i} (see {@code UdpPacketEngine}) then lands on socket
     * {@code i mod sockets} here, so two sending loops never share a receiving socket by a hash collision. A classic
     * BPF program ({@code SO_ATTACH_REUSEPORT_CBPF}, Linux 4.5+, Documentation/networking/filter.rst): load the UDP
     * source port 20 bytes after the network header (the outer IPv4 header has no options), subtract, take the
     * remainder, return it as the socket index; attached to one socket, it serves the whole group, whose sockets are
     * indexed in the order they were bound.
     *
     * @param fd a socket of the group
     * @param basePort the port the group listens on (flannel's 8285)
     * @param sockets the sockets in the group, at least 2
     * @return {@code true} if the kernel took the program, {@code false} (errno ignored: the 4-tuple hash stays)
     */
    static boolean steerBySourcePort(final int fd, final int basePort, final int sockets) {
        final ByteBuffer filter = ByteBuffer.allocateDirect(4 * 8).order(ByteOrder.nativeOrder());
        instruction(filter, 0x28, SKF_NET_OFF + 20); // BPF_LD | BPF_H | BPF_ABS: A = UDP source port
        instruction(filter, 0x14, basePort);         // BPF_ALU | BPF_SUB | BPF_K: A -= basePort (mod 2^32)
        instruction(filter, 0x94, sockets);          // BPF_ALU | BPF_MOD | BPF_K: A %= sockets
        instruction(filter, 0x16, 0);                // BPF_RET | BPF_A
        final ByteBuffer program = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder());
        program.putShort(0, (short) 4); // struct sock_fprog: unsigned short len; struct sock_filter *filter
        program.putLong(8, io.netty.channel.unix.Buffer.memoryAddress(filter));
        try {
            setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, program, 16);
            return true;
        } catch (LastErrorException e) {
            return false;
        }
    }

    private static void instruction(final ByteBuffer filter, final int code, final int k) {
        filter.putShort((short) code); // struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
        filter.put((byte) 0);
        filter.put((byte) 0);
        filter.putInt(k);
    }

    private static void setBuffer(final int fd, final int forced, final int plain, final int bytes) {
        try {
            setsockopt(fd, SOL_SOCKET, forced, new int[] {bytes}, 4);
        } catch (LastErrorException e) {
            setsockopt(fd, SOL_SOCKET, plain, new int[] {bytes}, 4); // without CAP_NET_ADMIN: capped by rmem_max
        }
    }
}
