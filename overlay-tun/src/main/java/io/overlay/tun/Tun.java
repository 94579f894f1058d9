package io.overlay.tun;

import io.netty.channel.epoll.Epoll;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Tells whether TUN devices can be used by this process, in the style of Netty's {@code Epoll}: the checks run once,
 * when the class is first used. TUN is available when the OS is Linux, {@code /dev/net/tun} exists, the native
 * libraries (JNA's libc binding, Netty's epoll JNI library) load, and the process has CAP_NET_ADMIN in its
 * effective capability set (bit 12 of {@code CapEff} in {@code /proc/self/status}; root normally has it).
 *
 * <pre>{@code
 * if (!Tun.isAvailable()) {
 *     log.warn("no TUN: {}", Tun.unavailabilityCause().getMessage());
 * }
 * }</pre>
 */
public final class Tun {
    /** The bit of {@code CAP_NET_ADMIN} in the capability sets (linux/capability.h). */
    static final int CAP_NET_ADMIN = 12;

    private static final Throwable PLATFORM_CAUSE;
    private static final Throwable UNAVAILABILITY_CAUSE;

    static {
        PLATFORM_CAUSE = probePlatform();
        Throwable cause = PLATFORM_CAUSE;
        if (cause == null) {
            cause = probeCapability();
        }
        UNAVAILABILITY_CAUSE = cause;
    }

    private Tun() {
    }

    /**
     * Returns whether TUN devices can be created by this process.
     *
     * @return {@code true} if {@link #unavailabilityCause()} is {@code null}
     */
    public static boolean isAvailable() {
        return UNAVAILABILITY_CAUSE == null;
    }

    /**
     * Throws if TUN devices cannot be created by this process.
     *
     * @throws UnsatisfiedLinkError with {@link #unavailabilityCause()} as its cause, if TUN is not available
     */
    public static void ensureAvailability() {
        if (UNAVAILABILITY_CAUSE != null) {
            throw (Error) new UnsatisfiedLinkError("TUN devices are not available: "
                + UNAVAILABILITY_CAUSE.getMessage()).initCause(UNAVAILABILITY_CAUSE);
        }
    }

    /**
     * Returns why TUN devices cannot be used.
     *
     * @return {@code null} if they can; otherwise the cause, whose message says what is missing (not Linux, no
     *     {@code /dev/net/tun}, native library failed to load, no CAP_NET_ADMIN)
     */
    public static Throwable unavailabilityCause() {
        return UNAVAILABILITY_CAUSE;
    }

    /**
     * Returns why the platform itself cannot do TUN (ignoring capabilities, which the kernel checks at open time).
     *
     * @return the cause, or {@code null}
     */
    static Throwable platformCause() {
        return PLATFORM_CAUSE;
    }

    private static Throwable probePlatform() {
        final String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (!os.startsWith("linux")) {
            return new UnsupportedOperationException("TUN devices need Linux, this is " + os);
        }
        if (!Files.exists(Path.of("/dev/net/tun"))) {
            return new IOException("/dev/net/tun does not exist: load the TUN driver (modprobe tun) or, in a"
                + " container, pass the device (--device /dev/net/tun)");
        }
        try {
            LibC.describe(LibC.EPERM);
        } catch (LinkageError e) {
            return e;
        }
        if (!Epoll.isAvailable()) {
            return Epoll.unavailabilityCause();
        }
        return null;
    }

    private static Throwable probeCapability() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    final long caps = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                    return hasNetAdmin(caps) ? null : new SecurityException("the process lacks CAP_NET_ADMIN"
                        + " (CapEff " + line.substring(7).trim() + "): run as root or grant cap_net_admin");
                }
            }
            return new IOException("no CapEff line in /proc/self/status");
        } catch (IOException | RuntimeException e) {
            return e;
        }
    }

    /**
     * Returns whether an effective capability mask holds CAP_NET_ADMIN.
     *
     * @param capEff the {@code CapEff} value of {@code /proc/self/status}, parsed from hex
     * @return {@code true} if bit 12 is set
     */
    static boolean hasNetAdmin(final long capEff) {
        return (capEff & (1L << CAP_NET_ADMIN)) != 0;
    }
}
