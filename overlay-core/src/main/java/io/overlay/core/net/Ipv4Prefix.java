package io.overlay.core.net;

/**
 * An IPv4 prefix (CIDR block) such as {@code 100.64.16.0/24}: a network address with all host bits zero and a prefix
 * length 0..32. Immutable value type; {@link #equals} and {@link #hashCode} compare address and length.
 *
 * <p>This is flannel's {@code ip.IP4Net} with its operations (contains, overlaps, next subnet), used for the
 * network config's {@code Network}, for leases and for routes.
 */
public final class Ipv4Prefix implements Comparable<Ipv4Prefix> {
    private final int address;
    private final int length;

    private Ipv4Prefix(final int address, final int length) {
        this.address = address;
        this.length = length;
    }

    /**
     * Returns the prefix of the given network address and length.
     *
     * @param address the network address (int form, see {@link Ipv4})
     * @param length the prefix length in bits, 0..32
     * @return the prefix
     * @throws IllegalArgumentException if the length is outside 0..32 or the address has host bits set
     */
    public static Ipv4Prefix of(final int address, final int length) {
        final int mask = Ipv4.mask(length);
        if ((address & ~mask) != 0) {
            throw new IllegalArgumentException("host bits set in " + Ipv4.format(address) + "/" + length
                + " (the network address is " + Ipv4.format(address & mask) + ")");
        }
        return new Ipv4Prefix(address, length);
    }

    /**
     * Returns the prefix that contains {@code address}, with its host bits cleared ({@code 10.10.1.5/16} gives
     * {@code 10.10.0.0/16}), the way Go's {@code net.ParseCIDR} network result and flannel treat a CIDR.
     *
     * @param address any address in the block
     * @param length the prefix length in bits, 0..32
     * @return the prefix
     * @throws IllegalArgumentException if the length is outside 0..32
     */
    public static Ipv4Prefix containing(final int address, final int length) {
        return new Ipv4Prefix(address & Ipv4.mask(length), length);
    }

    /**
     * Parses CIDR text such as {@code 100.64.0.0/16}. Host bits must be zero.
     *
     * @param text the CIDR text
     * @return the prefix
     * @throws IllegalArgumentException if the text is not {@code a.b.c.d/len} with len 0..32 or has host bits set; the
     *     message quotes the text
     */
    public static Ipv4Prefix parse(final String text) {
        final Ipv4Prefix masked = parseMasked(text);
        if (masked.address != Ipv4.parse(text.substring(0, text.indexOf('/')))) {
            throw new IllegalArgumentException("host bits set in \"" + text + "\" (the network address is "
                + masked + ")");
        }
        return masked;
    }

    /**
     * Parses CIDR text and clears host bits, as flannel does for the network config's {@code Network}
     * ({@code "10.10.1.5/16"} becomes {@code 10.10.0.0/16}).
     *
     * @param text the CIDR text
     * @return the prefix
     * @throws IllegalArgumentException if the text is not {@code a.b.c.d/len} with len 0..32; the message quotes it
     */
    public static Ipv4Prefix parseMasked(final String text) {
        if (text == null) {
            throw new IllegalArgumentException("IPv4 CIDR is missing (null)");
        }
        final int slash = text.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("not an IPv4 CIDR: \"" + text + "\" (expected a.b.c.d/len)");
        }
        final int addr;
        try {
            addr = Ipv4.parse(text.substring(0, slash));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not an IPv4 CIDR: \"" + text + "\" (expected a.b.c.d/len)", e);
        }
        final String len = text.substring(slash + 1);
        if (len.isEmpty() || len.length() > 2 || !len.chars().allMatch(c -> c >= '0' && c <= '9')
            || (len.length() > 1 && len.charAt(0) == '0') || Integer.parseInt(len) > 32) {
            throw new IllegalArgumentException("not an IPv4 CIDR: \"" + text + "\" (prefix length must be 0..32)");
        }
        return containing(addr, Integer.parseInt(len));
    }

    /**
     * Returns the network address.
     *
     * @return the network address, int form (see {@link Ipv4})
     */
    public int address() {
        return address;
    }

    /**
     * Returns the prefix length.
     *
     * @return the prefix length in bits, 0..32
     */
    public int length() {
        return length;
    }

    /**
     * Returns the netmask.
     *
     * @return the mask, e.g. {@code 0xffffff00} for a /24
     */
    public int mask() {
        return Ipv4.mask(length);
    }

    /**
     * Returns the number of addresses in the block.
     *
     * @return 2^(32 - length), e.g. 256 for a /24
     */
    public long size() {
        return 1L << (32 - length);
    }

    /**
     * Returns whether {@code addr} lies in this block.
     *
     * @param addr an address, int form
     * @return {@code true} if {@code (addr & mask) == address}
     */
    public boolean contains(final int addr) {
        return (addr & mask()) == address;
    }

    /**
     * Returns whether {@code other} lies wholly inside this block.
     *
     * @param other another prefix
     * @return {@code true} if other is equal to or more specific than this block and inside it
     */
    public boolean contains(final Ipv4Prefix other) {
        return other.length >= length && contains(other.address);
    }

    /**
     * Returns whether the two blocks share any address (one contains the other), flannel's {@code Overlaps}.
     *
     * @param other another prefix
     * @return {@code true} if the blocks overlap
     */
    public boolean overlaps(final Ipv4Prefix other) {
        return contains(other) || other.contains(this);
    }

    /**
     * Returns the next block of the same length ({@code 10.10.16.0/24} gives {@code 10.10.17.0/24}), flannel's
     * {@code Next}.
     *
     * @return the following block
     * @throws IllegalStateException if this is the last block of the address space
     */
    public Ipv4Prefix next() {
        final long next = (address & 0xffffffffL) + size();
        if (next > 0xffffffffL) {
            throw new IllegalStateException("no prefix after " + this);
        }
        return new Ipv4Prefix((int) next, length);
    }

    /**
     * Returns host address number {@code n} of the block: {@code hostAddress(1)} of {@code 10.10.16.0/24} is
     * {@code 10.10.16.1}.
     *
     * @param n the offset from the network address, 0..size-1
     * @return the address, int form
     * @throws IllegalArgumentException if n is outside the block
     */
    public int hostAddress(final long n) {
        if (n < 0 || n >= size()) {
            throw new IllegalArgumentException("host " + n + " is outside " + this + " (" + size() + " addresses)");
        }
        return (int) ((address & 0xffffffffL) + n);
    }

    @Override
    public int compareTo(final Ipv4Prefix o) {
        final int c = Integer.compareUnsigned(address, o.address);
        return c != 0 ? c : Integer.compare(length, o.length);
    }

    @Override
    public boolean equals(final Object o) {
        return o instanceof Ipv4Prefix && ((Ipv4Prefix) o).address == address && ((Ipv4Prefix) o).length == length;
    }

    @Override
    public int hashCode() {
        return address * 31 + length;
    }

    /**
     * Returns the CIDR text.
     *
     * @return text such as {@code 100.64.16.0/24}
     */
    @Override
    public String toString() {
        return Ipv4.format(address) + "/" + length;
    }
}
