package io.overlay.testing;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.io.IOException;

/**
 * The libc calls the tests and benchmarks make themselves (sockets, socket options, TUN and ethtool ioctls,
 * {@code setns}), bound once through JNA interface mapping (test code: speed does not matter), with the kernel
 * constants they pass declared once. Independent of the production bindings ({@code overlay-tun}'s and
 * {@code overlay-udp}'s), so a test never checks the production code against itself.
 *
 * <p>Every call returns what libc returns: {@code -1} (or a negative count) on failure, the cause in
 * {@link Native#getLastError()}; {@link #check(long, String)} turns that into an {@link IOException}. Sizes and counts
 * are {@code long} ({@code size_t}/{@code ssize_t}); the constants and struct layouts are those of Linux on x86-64 and
 * aarch64 ({@code include/uapi/asm-generic/socket.h}, {@code include/uapi/linux/if_tun.h},
 * {@code include/uapi/linux/sock_diag.h}, {@code include/uapi/linux/ethtool.h}, {@code include/linux/virtio_net.h}).
 */
public interface TestLibc extends Library {
    /** The binding. */
    TestLibc INSTANCE = Native.load("c", TestLibc.class);

    /** {@code EAGAIN}: nothing to read on a non-blocking descriptor. */
    int EAGAIN = 11;

    /** Address family {@code AF_UNIX}. */
    int AF_UNIX = 1;
    /** Address family {@code AF_INET}. */
    int AF_INET = 2;
    /** Socket type {@code SOCK_DGRAM}. */
    int SOCK_DGRAM = 2;
    /** Socket type {@code SOCK_RAW}. */
    int SOCK_RAW = 3;
    /** Socket type {@code SOCK_SEQPACKET}. */
    int SOCK_SEQPACKET = 5;
    /** Socket type flag {@code SOCK_NONBLOCK}. */
    int SOCK_NONBLOCK = 0x800;
    /** Socket type flag {@code SOCK_CLOEXEC}. */
    int SOCK_CLOEXEC = 0x80000;
    /** {@code IPPROTO_UDP}, also the {@code SOL_UDP} option level. */
    int IPPROTO_UDP = 17;
    /** {@code IPPROTO_RAW}: a raw socket that sends whole IPv4 packets (implies {@code IP_HDRINCL}). */
    int IPPROTO_RAW = 255;

    /** Option level {@code SOL_SOCKET}. */
    int SOL_SOCKET = 1;
    /** {@code SO_SNDBUF}, bytes (the kernel reports twice the value asked). */
    int SO_SNDBUF = 7;
    /** {@code SO_RCVBUF}, bytes (the kernel reports twice the value asked). */
    int SO_RCVBUF = 8;
    /** {@code SO_RCVTIMEO}: a {@code struct timeval} (two 64-bit longs: seconds, microseconds). */
    int SO_RCVTIMEO = 20;
    /** {@code SO_SNDBUFFORCE}: {@code SO_SNDBUF} above {@code net.core.wmem_max} (CAP_NET_ADMIN). */
    int SO_SNDBUFFORCE = 32;
    /** {@code SO_RCVBUFFORCE}: {@code SO_RCVBUF} above {@code net.core.rmem_max} (CAP_NET_ADMIN). */
    int SO_RCVBUFFORCE = 33;
    /** {@code SO_MEMINFO}: the socket's {@code SK_MEMINFO_*} counters as 32-bit values. */
    int SO_MEMINFO = 55;
    /** Index of {@code SK_MEMINFO_RMEM_ALLOC} (receive memory in use, bytes) in the {@code SO_MEMINFO} array. */
    int SK_MEMINFO_RMEM_ALLOC = 0;
    /** Index of {@code SK_MEMINFO_DROPS} (packets dropped at the socket) in the {@code SO_MEMINFO} array. */
    int SK_MEMINFO_DROPS = 8;
    /** {@code UDP_SEGMENT} at level {@code SOL_UDP}: UDP GSO segment size, bytes. */
    int UDP_SEGMENT = 103;
    /** {@code recv} flag {@code MSG_PEEK}. */
    int MSG_PEEK = 0x2;
    /** {@code recv} flag {@code MSG_DONTWAIT}. */
    int MSG_DONTWAIT = 0x40;

    /** {@code open} flag {@code O_RDONLY}. */
    int O_RDONLY = 0;
    /** {@code open} flag {@code O_RDWR}. */
    int O_RDWR = 2;
    /** {@code open} flag {@code O_NONBLOCK}. */
    int O_NONBLOCK = 0x800;
    /** {@code open} flag {@code O_CLOEXEC}. */
    int O_CLOEXEC = 0x80000;
    /** {@code poll} event {@code POLLIN}. */
    short POLLIN = 0x1;
    /** {@code setns} type {@code CLONE_NEWNET}. */
    int CLONE_NEWNET = 0x40000000;

    /** {@code sizeof(struct ifreq)}, bytes: the name (16 bytes, {@code IFNAMSIZ}) and a 24-byte union. */
    int IFREQ_SIZE = 40;
    /** Offset of {@code ifr_flags} / {@code ifr_data} in {@code struct ifreq}. */
    int IFREQ_UNION = 16;
    /** {@code TUNSETIFF}: attach the descriptor to a new TUN device ({@code struct ifreq *}). */
    long TUNSETIFF = 0x400454caL;
    /** {@code TUNSETOFFLOAD}: the {@code TUN_F_*} offloads the reader accepts (an unsigned int by value). */
    long TUNSETOFFLOAD = 0x400454d0L;
    /** {@code TUNSETVNETHDRSZ}: the virtio header length ({@code int *}). */
    long TUNSETVNETHDRSZ = 0x400454d8L;
    /** {@code IFF_TUN}: an IP-level device. */
    short IFF_TUN = 0x0001;
    /** {@code IFF_NO_PI}: no packet-information prefix. */
    short IFF_NO_PI = 0x1000;
    /** {@code IFF_VNET_HDR}: every packet is preceded by a virtio header. */
    short IFF_VNET_HDR = 0x4000;
    /** {@code TUN_F_CSUM}: the reader takes packets with partial checksums. */
    int TUN_F_CSUM = 0x01;
    /** {@code TUN_F_TSO4}: the reader takes TCP/IPv4 super-packets. */
    int TUN_F_TSO4 = 0x02;
    /** {@code TUN_F_TSO_ECN}: the reader takes TSO super-packets with ECN (CWR set). */
    int TUN_F_TSO_ECN = 0x08;
    /** {@code TUN_F_USO4}: the reader takes UDP/IPv4 super-packets (the kernel wants it with USO6). */
    int TUN_F_USO4 = 0x20;
    /** {@code TUN_F_USO6}: the reader takes UDP/IPv6 super-packets. */
    int TUN_F_USO6 = 0x40;
    /** {@code sizeof(struct virtio_net_hdr)}, bytes: the header a TUN with {@code IFF_VNET_HDR} puts first. */
    int VIRTIO_NET_HDR_LENGTH = 10;
    /** {@code SIOCETHTOOL}: a legacy ethtool command ({@code struct ifreq} whose data points at the command). */
    long SIOCETHTOOL = 0x8946L;
    /** {@code ETHTOOL_STSO}: set TCP segmentation offload (all TSO features). */
    int ETHTOOL_STSO = 0x1f;
    /** {@code ETHTOOL_SGRO}: set generic receive offload. */
    int ETHTOOL_SGRO = 0x2c;

    /**
     * socket(2).
     *
     * @param domain e.g. {@link #AF_INET}
     * @param type e.g. {@link #SOCK_DGRAM}, with flags
     * @param protocol e.g. 0
     * @return the descriptor, or -1
     */
    int socket(int domain, int type, int protocol);

    /**
     * socketpair(2).
     *
     * @param domain {@link #AF_UNIX}
     * @param type e.g. {@link #SOCK_SEQPACKET}, with flags
     * @param protocol 0
     * @param sv receives the two descriptors
     * @return 0, or -1
     */
    int socketpair(int domain, int type, int protocol, int[] sv);

    /**
     * bind(2).
     *
     * @param fd the socket
     * @param address a {@code struct sockaddr_*}, host byte order where the kernel wants it
     * @param length the address's length in bytes
     * @return 0, or -1
     */
    int bind(int fd, byte[] address, int length);

    /**
     * setsockopt(2) with a byte array value.
     *
     * @param fd the socket
     * @param level e.g. {@link #SOL_SOCKET}
     * @param name the option
     * @param value the value, host byte order
     * @param length the value's length in bytes
     * @return 0, or -1
     */
    int setsockopt(int fd, int level, int name, byte[] value, int length);

    /**
     * setsockopt(2) with an int array value.
     *
     * @param fd the socket
     * @param level e.g. {@link #SOL_SOCKET}
     * @param name the option
     * @param value the value
     * @param length the value's length in bytes
     * @return 0, or -1
     */
    int setsockopt(int fd, int level, int name, int[] value, int length);

    /**
     * getsockopt(2) into an int array.
     *
     * @param fd the socket
     * @param level e.g. {@link #SOL_SOCKET}
     * @param name the option
     * @param value receives the value
     * @param length in: the room in bytes; out: the length written
     * @return 0, or -1
     */
    int getsockopt(int fd, int level, int name, int[] value, int[] length);

    /**
     * sendto(2).
     *
     * @param fd the socket
     * @param buffer the bytes
     * @param length how many
     * @param flags send flags
     * @param address a {@code struct sockaddr_in}
     * @param addressLength its length, 16
     * @return bytes sent, or -1
     */
    long sendto(int fd, byte[] buffer, long length, int flags, byte[] address, int addressLength);

    /**
     * recv(2).
     *
     * @param fd the socket
     * @param buffer receives the bytes
     * @param length room in bytes
     * @param flags e.g. {@link #MSG_DONTWAIT}
     * @return bytes received, or -1
     */
    long recv(int fd, byte[] buffer, long length, int flags);

    /**
     * read(2) into an array.
     *
     * @param fd the descriptor
     * @param buffer receives the bytes
     * @param length room in bytes
     * @return bytes read, or -1
     */
    long read(int fd, byte[] buffer, long length);

    /**
     * read(2) into native memory.
     *
     * @param fd the descriptor
     * @param buffer where to
     * @param length room in bytes
     * @return bytes read, or -1
     */
    long read(int fd, Pointer buffer, long length);

    /**
     * write(2) from an array.
     *
     * @param fd the descriptor
     * @param buffer the bytes
     * @param length how many
     * @return bytes written, or -1
     */
    long write(int fd, byte[] buffer, long length);

    /**
     * write(2) from native memory.
     *
     * @param fd the descriptor
     * @param buffer the bytes
     * @param length how many
     * @return bytes written, or -1
     */
    long write(int fd, Pointer buffer, long length);

    /**
     * open(2).
     *
     * @param path the file
     * @param flags e.g. {@link #O_RDWR}
     * @return the descriptor, or -1
     */
    int open(String path, int flags);

    /**
     * close(2).
     *
     * @param fd the descriptor
     * @return 0, or -1
     */
    int close(int fd);

    /**
     * ioctl(2) whose argument is a pointer.
     *
     * @param fd the descriptor
     * @param request e.g. {@link #TUNSETIFF}
     * @param argument the argument's memory
     * @return 0 (or a request-specific value), or -1
     */
    int ioctl(int fd, long request, Pointer argument);

    /**
     * ioctl(2) whose argument is a value (e.g. {@link #TUNSETOFFLOAD}).
     *
     * @param fd the descriptor
     * @param request the request
     * @param argument the value
     * @return 0 (or a request-specific value), or -1
     */
    int ioctl(int fd, long request, long argument);

    /**
     * poll(2).
     *
     * @param fds an array of {@code struct pollfd} (8 bytes each: fd, events, revents)
     * @param count how many
     * @param timeoutMillis how long to wait
     * @return descriptors ready, 0 on timeout, or -1
     */
    int poll(Pointer fds, long count, int timeoutMillis);

    /**
     * setns(2): moves the calling thread into the namespace of {@code fd}.
     *
     * @param fd an open namespace file
     * @param type {@link #CLONE_NEWNET}
     * @return 0, or -1
     */
    int setns(int fd, int type);

    /**
     * Returns {@code result} unless it is negative; then throws with the call's errno.
     *
     * @param result what a call of this binding returned
     * @param what the call, for the message, e.g. {@code "socketpair(AF_UNIX, SOCK_SEQPACKET)"}
     * @return {@code result}
     * @throws IOException if {@code result} is negative: "{@code what} failed: errno N"
     */
    static long check(final long result, final String what) throws IOException {
        if (result < 0) {
            throw new IOException(what + " failed: errno " + Native.getLastError());
        }
        return result;
    }
}
