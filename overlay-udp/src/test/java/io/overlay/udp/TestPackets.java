package io.overlay.udp;

import java.nio.ByteBuffer;
import java.util.HexFormat;

/** Fixed packets shared by the tests (computed independently with a Python RFC 1071 implementation). */
public final class TestPackets {
    /** An 84-byte ICMP echo request 100.64.1.1 → 100.64.9.9, TTL 64, DF, id 0x1234, both checksums valid. */
    public static final String ECHO_REQUEST = "4500005412344000400155eb644001016440090908003f2300070001"
        + "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        + "4041424344454647";
    /** {@link #ECHO_REQUEST} after one forwarding hop: TTL 63, header checksum 0x56eb. */
    public static final String ECHO_REQUEST_FORWARDED = "45000054123440003f0156eb644001016440090908003f2300070001"
        + "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        + "4041424344454647";
    /** The net unreachable for {@link #ECHO_REQUEST}: 100.64.9.9 → 100.64.1.1, TTL 8, quoting 20 + 8 bytes. */
    public static final String NET_UNREACHABLE = "45000038000000000801e03b64400909644001010300b5d400000000"
        + "4500005412344000400155eb644001016440090908003f2300070001";

    private TestPackets() {
    }

    public static byte[] bytes(final String hex) {
        return HexFormat.of().parseHex(hex);
    }

    /** A big-endian heap buffer holding {@code hex} at offset {@code at}, with room to spare. */
    public static ByteBuffer buffer(final String hex, final int at) {
        final byte[] b = bytes(hex);
        final ByteBuffer buf = ByteBuffer.allocate(at + b.length + 64);
        buf.put(at, b);
        return buf;
    }

    public static byte[] copy(final ByteBuffer buf, final int at, final int length) {
        final byte[] out = new byte[length];
        buf.get(at, out);
        return out;
    }
}
