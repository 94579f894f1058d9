package io.overlay.core.net;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * IPv4 addresses as {@code int} values in network byte order (the first octet in the most significant byte), the
 * form used throughout overlay's model and packet path so that no object is needed per address.
 */
public final class Ipv4 {
    /**
     * The smallest MTU of an IPv4 link, in bytes: RFC 791 requires every module to forward a datagram of 68 octets
     * without further fragmentation.
     */
    public static final int MIN_MTU = 68;

    /** The largest IPv4 packet and so the largest useful MTU, in bytes: the 16-bit Total Length field (RFC 791). */
    public static final int MAX_MTU = 65535;

    private Ipv4() {
    }

    /**
     * Checks an MTU against IPv4's limits, {@value #MIN_MTU}..{@value #MAX_MTU} bytes: the one MTU check of every
     * setting that carries one (TUN, bridge, engine).
     *
     * @param what the name of the setting, for the message (e.g. {@code "TUN MTU"})
     * @param mtu the MTU in bytes
     * @return {@code mtu}
     * @throws IllegalArgumentException {@code "<what> must be 68..65535 bytes, got <mtu>"} if it is out of range
     */
    public static int checkMtu(final String what, final int mtu) {
        if (mtu < MIN_MTU || mtu > MAX_MTU) {
            throw new IllegalArgumentException(what + " must be " + MIN_MTU + ".." + MAX_MTU + " bytes, got " + mtu);
        }
        return mtu;
    }

    /**
     * Parses a dotted-quad IPv4 address such as {@code 198.18.0.1}. Exactly four decimal octets 0..255 are accepted;
     * leading zeros beyond one digit, signs, spaces and host names are rejected.
     *
     * @param text the address text
     * @return the address as an int, first octet in the most significant byte
     * @throws IllegalArgumentException if the text is not a dotted-quad IPv4 address; the message quotes the text
     */
    public static int parse(final String text) {
        if (text == null) {
            throw new IllegalArgumentException("IPv4 address is missing (null)");
        }
        int value = 0;
        int octets = 0;
        int i = 0;
        final int n = text.length();
        while (i <= n) {
            int start = i;
            int octet = 0;
            while (i < n && text.charAt(i) >= '0' && text.charAt(i) <= '9') {
                octet = octet * 10 + (text.charAt(i) - '0');
                i++;
                if (i - start > 3) {
                    throw bad(text);
                }
            }
            final int digits = i - start;
            if (digits == 0 || octet > 255 || (digits > 1 && text.charAt(start) == '0')) {
                throw bad(text);
            }
            value = (value << 8) | octet;
            octets++;
            if (i == n) {
                break;
            }
            if (text.charAt(i) != '.' || octets == 4) {
                throw bad(text);
            }
            i++;
        }
        if (octets != 4) {
            throw bad(text);
        }
        return value;
    }

    private static IllegalArgumentException bad(final String text) {
        return new IllegalArgumentException("not an IPv4 address: \"" + text + "\" (expected a dotted quad such as 198.18.0.1)");
    }

    /**
     * Formats an address as a dotted quad.
     *
     * @param address the address, first octet in the most significant byte
     * @return text such as {@code 198.18.0.1}
     */
    public static String format(final int address) {
        return ((address >>> 24) & 0xff) + "." + ((address >>> 16) & 0xff) + "." + ((address >>> 8) & 0xff) + "."
            + (address & 0xff);
    }

    /**
     * Converts an address to a JDK {@link Inet4Address} without any name lookup.
     *
     * @param address the address, first octet in the most significant byte
     * @return the JDK address object
     */
    public static Inet4Address toInetAddress(final int address) {
        final byte[] b = {(byte) (address >>> 24), (byte) (address >>> 16), (byte) (address >>> 8), (byte) address};
        try {
            return (Inet4Address) InetAddress.getByAddress(b);
        } catch (UnknownHostException e) {
            throw new AssertionError(e); // cannot happen for 4 bytes
        }
    }

    /**
     * Converts a JDK IPv4 address to its int form.
     *
     * @param address the JDK address
     * @return the address, first octet in the most significant byte
     */
    public static int fromInetAddress(final Inet4Address address) {
        final byte[] b = address.getAddress();
        return ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
    }

    /**
     * Returns the netmask of a prefix length.
     *
     * @param prefixLength 0..32
     * @return the mask, e.g. {@code 0xffffff00} for 24
     * @throws IllegalArgumentException if the length is outside 0..32
     */
    public static int mask(final int prefixLength) {
        if (prefixLength < 0 || prefixLength > 32) {
            throw new IllegalArgumentException("IPv4 prefix length must be 0..32, got " + prefixLength);
        }
        return prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
    }
}
