package io.overlay.tun;

import com.sun.jna.LastErrorException;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import java.nio.ByteBuffer;

/**
 * The few libc calls of the control plane, through JNA direct mapping (Linux x86-64/aarch64 ABI). Never used per
 * packet: packet I/O goes through Netty's JNI {@code FileDescriptor}, which costs less per call. Each call throws
 * {@link LastErrorException} (carrying errno) when it fails. Buffers passed here must be direct.
 *
 * <p>{@code ioctl} is variadic in C; it is declared with a fixed pointer third argument, which is how integer and
 * pointer arguments are passed on Linux x86-64 and aarch64 alike (under the System V AMD64 and AAPCS64 calling
 * conventions a variadic integer or pointer argument travels in the same register as a fixed one); JNA direct
 * mapping has no varargs.
 */
final class LibC {
    /** {@code O_RDONLY}. */
    static final int O_RDONLY = 0;
    /** {@code O_RDWR}. */
    static final int O_RDWR = 2;
    /** {@code O_NONBLOCK} (x86-64/aarch64). */
    static final int O_NONBLOCK = 0x800;
    /** {@code O_CLOEXEC} (x86-64/aarch64). */
    static final int O_CLOEXEC = 0x80000;

    /** {@code AF_NETLINK}. */
    static final int AF_NETLINK = 16;
    /** {@code SOCK_RAW}. */
    static final int SOCK_RAW = 3;
    /** {@code SOCK_CLOEXEC} (same value as {@code O_CLOEXEC}). */
    static final int SOCK_CLOEXEC = 0x80000;
    /** {@code NETLINK_ROUTE}: the rtnetlink protocol. */
    static final int NETLINK_ROUTE = 0;
    /** {@code SOL_SOCKET}. */
    static final int SOL_SOCKET = 1;
    /** {@code SO_RCVTIMEO} (x86-64/aarch64, 64-bit {@code struct timeval}). */
    static final int SO_RCVTIMEO = 20;
    /** {@code SOL_NETLINK}. */
    static final int SOL_NETLINK = 270;
    /** {@code NETLINK_CAP_ACK}: acks carry only the request's header, not its payload. */
    static final int NETLINK_CAP_ACK = 10;
    /** {@code NETLINK_EXT_ACK}: acks carry the kernel's error message text. */
    static final int NETLINK_EXT_ACK = 11;

    /** {@code CLONE_NEWNET}, the network namespace type for {@code setns}. */
    static final int CLONE_NEWNET = 0x40000000;

    /** {@code TUNSETIFF} = {@code _IOW('T', 202, int)} (linux/if_tun.h). */
    static final long TUNSETIFF = 0x400454caL;

    /**
     * {@code TUNGETIFF} = {@code _IOR('T', 210, unsigned int)} (linux/if_tun.h): fills a {@code struct ifreq} with the
     * attached device's name and flags; {@code EBADFD} once the device was deleted.
     */
    static final long TUNGETIFF = 0x800454d2L;

    /** errno {@code EPERM}. */
    static final int EPERM = 1;
    /** errno {@code ENOENT}. */
    static final int ENOENT = 2;
    /** errno {@code EAGAIN}. */
    static final int EAGAIN = 11;
    /** errno {@code ENOMEM}. */
    static final int ENOMEM = 12;
    /** errno {@code EACCES}. */
    static final int EACCES = 13;
    /** errno {@code EBUSY}. */
    static final int EBUSY = 16;
    /** errno {@code EEXIST}. */
    static final int EEXIST = 17;
    /** errno {@code EHOSTUNREACH}: no route to the host. */
    static final int EHOSTUNREACH = 113;
    /** errno {@code ENODEV}. */
    static final int ENODEV = 19;
    /** errno {@code EINVAL}. */
    static final int EINVAL = 22;
    /** errno {@code ENFILE}. */
    static final int ENFILE = 23;
    /** errno {@code EMFILE}. */
    static final int EMFILE = 24;
    /** errno {@code ERANGE}. */
    static final int ERANGE = 34;
    /** errno {@code EADDRNOTAVAIL}. */
    static final int EADDRNOTAVAIL = 99;
    /** errno {@code EBADFD}: a TUN descriptor whose device is gone. */
    static final int EBADFD = 77;
    /** errno {@code ENETUNREACH}. */
    static final int ENETUNREACH = 101;

    static {
        Native.register(Platform.C_LIBRARY_NAME);
    }

    private LibC() {
    }

    /** {@code open(2)}: returns the new descriptor. */
    static native int open(String path, int flags) throws LastErrorException;

    /** {@code close(2)}. */
    static native int close(int fd) throws LastErrorException;

    /** {@code ioctl(2)} with a pointer argument (a direct buffer). */
    static native int ioctl(int fd, long request, ByteBuffer arg) throws LastErrorException;

    /** {@code ioctl(2)} with an integer argument passed by value (e.g. {@code TUNSETOFFLOAD}). */
    static native int ioctl(int fd, long request, long arg) throws LastErrorException;

    /** {@code TUNSETOFFLOAD} = {@code _IOW('T', 208, unsigned int)} (linux/if_tun.h); the argument is the mask. */
    static final long TUNSETOFFLOAD = 0x400454d0L;
    /** {@code TUNSETVNETHDRSZ} = {@code _IOW('T', 216, int)}; the argument points to the size. */
    static final long TUNSETVNETHDRSZ = 0x400454d8L;

    /** {@code socket(2)}: returns the new descriptor. */
    static native int socket(int domain, int type, int protocol) throws LastErrorException;

    /** {@code bind(2)}. */
    static native int bind(int fd, ByteBuffer address, int addressLength) throws LastErrorException;

    /** {@code setsockopt(2)}; value is a direct buffer of valueLength bytes. */
    static native int setsockopt(int fd, int level, int name, ByteBuffer value, int valueLength)
        throws LastErrorException;

    /** {@code send(2)}: returns the bytes sent. */
    static native long send(int fd, ByteBuffer buffer, long length, int flags) throws LastErrorException;

    /** {@code recv(2)}: returns the bytes received (one netlink datagram). */
    static native long recv(int fd, ByteBuffer buffer, long length, int flags) throws LastErrorException;

    /** {@code setns(2)}: moves the calling thread into the namespace of fd. */
    static native int setns(int fd, int nstype) throws LastErrorException;

    /** {@code strerror(3)}: libc's text for an errno. */
    static native String strerror(int errno);

    /**
     * Closes a descriptor, ignoring errors (used on cleanup paths that already report another failure).
     *
     * @param fd the descriptor, ignored when negative
     */
    static void closeQuietly(final int fd) {
        if (fd >= 0) {
            try {
                close(fd);
            } catch (LastErrorException ignored) {
                // already failing or closing; nothing useful to add
            }
        }
    }

    /**
     * Returns a short name and description of an errno value, e.g. {@code "EPERM, Operation not permitted"}.
     *
     * @param errno the error number
     * @return the symbolic name (when known) and libc's text
     */
    static String describe(final int errno) {
        final String symbol = switch (errno) {
            case EPERM -> "EPERM";
            case ENOENT -> "ENOENT";
            case EAGAIN -> "EAGAIN";
            case ENOMEM -> "ENOMEM";
            case EACCES -> "EACCES";
            case EBUSY -> "EBUSY";
            case EEXIST -> "EEXIST";
            case ENODEV -> "ENODEV";
            case EINVAL -> "EINVAL";
            case ENFILE -> "ENFILE";
            case EMFILE -> "EMFILE";
            case ERANGE -> "ERANGE";
            case EADDRNOTAVAIL -> "EADDRNOTAVAIL";
            case ENETUNREACH -> "ENETUNREACH";
            case EBADFD -> "EBADFD";
            case EHOSTUNREACH -> "EHOSTUNREACH";
            default -> "errno " + errno;
        };
        String text;
        try {
            text = strerror(errno);
        } catch (RuntimeException | LinkageError e) {
            text = null;
        }
        return text == null ? symbol : symbol + ", " + text;
    }
}
