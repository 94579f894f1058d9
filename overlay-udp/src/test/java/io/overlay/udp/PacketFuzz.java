package io.overlay.udp;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.DropReason;
import io.overlay.testing.TestPackets;
import java.util.Arrays;
import java.util.Random;

/**
 * Seeded hostile and odd inner packets for the fuzz tests, and an oracle of what the engine must do with each: the
 * checks of {@link PacketProcessor}, in its order, written again from its documentation.
 */
final class PacketFuzz {
    private final Random random;
    private final Ipv4Prefix target;
    private final Ipv4Prefix elsewhere;
    private final int mtu;
    private final int maxLength;
    private int tcpSeq = 1000;
    private int tcpId = 1;

    /**
     * @param seed the seed
     * @param target the subnet valid packets are addressed to
     * @param elsewhere another subnet inside the Network (foreign destination, or unrouted)
     * @param mtu the engine's MTU
     * @param maxLength the longest packet made (65507 over UDP; the MTU through a TUN)
     */
    PacketFuzz(final long seed, final Ipv4Prefix target, final Ipv4Prefix elsewhere, final int mtu,
               final int maxLength) {
        this.random = new Random(seed);
        this.target = target;
        this.elsewhere = elsewhere;
        this.mtu = mtu;
        this.maxLength = maxLength;
    }

    /** The next packet: valid, mutated or junk. */
    byte[] next() {
        final int kind = random.nextInt(17);
        switch (kind) {
            case 0:
                return valid(host(target));
            case 1: { // 1..3 bits flipped, mostly in the header
                final byte[] p = valid(host(target));
                for (int i = random.nextInt(3); i >= 0; i--) {
                    final int at = random.nextInt(4) == 0 ? random.nextInt(p.length) : random.nextInt(Math.min(24,
                        p.length));
                    p[at] ^= (byte) (1 << random.nextInt(8));
                }
                return p;
            }
            case 2: { // truncated
                final byte[] p = valid(host(target));
                return Arrays.copyOf(p, random.nextInt(p.length));
            }
            case 3: { // extended
                final byte[] p = valid(host(target));
                final byte[] q = Arrays.copyOf(p, Math.min(maxLength, p.length + 1 + random.nextInt(64)));
                for (int i = p.length; i < q.length; i++) {
                    q[i] = (byte) random.nextInt();
                }
                return q;
            }
            case 4: { // any IHL, checksum over what it says
                final byte[] p = valid(host(target));
                p[0] = (byte) (0x40 | random.nextInt(16));
                fixChecksumIfPossible(p);
                return p;
            }
            case 5: { // total length off
                final byte[] p = valid(host(target));
                TestPackets.put16(p, 2, random.nextBoolean() ? random.nextInt(65536) : p.length + random.nextInt(5)
                    - 2);
                TestPackets.fixIp(p);
                return p;
            }
            case 6:
                return withOptions(host(target));
            case 7: { // a fragment: MF and/or an offset
                final byte[] p = valid(host(target));
                TestPackets.put16(p, 6, (random.nextBoolean() ? 0x2000 : 0) | (1 + random.nextInt(0x1fff)));
                TestPackets.fixIp(p);
                return p;
            }
            case 8: { // TTL 0, 1 or 2
                final byte[] p = valid(host(target));
                p[8] = (byte) random.nextInt(3);
                TestPackets.fixIp(p);
                return p;
            }
            case 9: { // IPv6
                final byte[] p = junk(40 + random.nextInt(200));
                p[0] = (byte) (0x60 | (p[0] & 0x0f));
                return p;
            }
            case 10:
                return junk(random.nextInt(200));
            case 11: { // oversized but otherwise well-formed
                final int length = Math.min(maxLength, mtu + 1 + (random.nextInt(4) == 0
                    ? random.nextInt(Math.max(1, maxLength - mtu)) : random.nextInt(16)));
                return ip(host(target), length, 1 + random.nextInt(255));
            }
            case 12:
                return new byte[0];
            case 13:
                return valid(host(elsewhere));
            case 14:
                return valid(random.nextInt()); // anywhere, mostly outside the Network
            case 15: { // TCP data of one flow, in order, as the coalescer merges it
                final byte[] payload = new byte[random.nextInt(4) == 0 ? random.nextInt(100) : mtu - 40];
                random.nextBytes(payload);
                final byte[] p = TestPackets.tcp(elsewhere.address() | 7, target.address() | 7, tcpId++, tcpSeq,
                    payload, TestPackets.ACK | (random.nextInt(8) == 0 ? TestPackets.PSH : 0), false);
                tcpSeq += payload.length;
                return p;
            }
            default: { // a TCP segment with random flags, maybe a bad TCP checksum
                final byte[] payload = new byte[random.nextInt(300)];
                random.nextBytes(payload);
                final byte[] p = TestPackets.tcp(elsewhere.address() | 8, host(target), random.nextInt(65536),
                    random.nextInt(), payload, random.nextInt(256), false);
                if (random.nextBoolean()) {
                    p[p.length - 1] ^= 1;
                }
                return p;
            }
        }
    }

    /**
     * What the engine must do with a datagram carrying {@code p} (UDP → TUN): {@code null} to deliver it, else why it
     * is dropped.
     */
    DropReason udpToTun(final byte[] p, final boolean knownSender, final Ipv4Prefix local) {
        if (!knownSender) {
            return DropReason.UNKNOWN_SENDER;
        }
        final DropReason invalid = invalid(p);
        if (invalid != null) {
            return invalid;
        }
        if (!TestPackets.ipChecksumOk(p)) {
            return DropReason.BAD_HEADER_CHECKSUM;
        }
        if (!local.contains(TestPackets.u32(p, 16))) {
            return DropReason.FOREIGN_DESTINATION;
        }
        return (p[8] & 0xff) <= 1 ? DropReason.TTL_EXPIRED : null;
    }

    /**
     * What the engine must do with {@code p} read from the TUN: {@code null} to send it to the peer owning
     * one of {@code routed}, else why it is dropped.
     */
    DropReason tunToUdp(final byte[] p, final Ipv4Prefix network, final Ipv4Prefix... routed) {
        final DropReason invalid = invalid(p);
        if (invalid != null) {
            return invalid;
        }
        if (!TestPackets.ipChecksumOk(p)) {
            return DropReason.BAD_HEADER_CHECKSUM;
        }
        final int dst = TestPackets.u32(p, 16);
        if (!network.contains(dst)) {
            return DropReason.OUTSIDE_NETWORK;
        }
        boolean route = false;
        for (Ipv4Prefix r : routed) {
            route |= r.contains(dst);
        }
        if (!route) {
            return DropReason.NO_ROUTE;
        }
        return (p[8] & 0xff) <= 1 ? DropReason.TTL_EXPIRED : null;
    }

    private DropReason invalid(final byte[] p) {
        if (p.length > mtu) {
            return DropReason.OVERSIZED;
        }
        if (p.length < 20) {
            return DropReason.TOO_SHORT;
        }
        if ((p[0] & 0xf0) != 0x40) {
            return DropReason.NOT_IPV4;
        }
        final int ihl = (p[0] & 0x0f) * 4;
        if (ihl < 20 || ihl > p.length) {
            return DropReason.BAD_HEADER_LENGTH;
        }
        return TestPackets.u16(p, 2) != p.length ? DropReason.BAD_TOTAL_LENGTH : null;
    }

    /**
     * Whether {@code p} is a well-formed IPv4 packet for {@code destination}: version 4, header length and total
     * length consistent with the bytes, a header checksum that verifies, TTL at least 1.
     */
    static boolean wellFormed(final byte[] p, final Ipv4Prefix destination) {
        if (p.length < 20 || (p[0] & 0xf0) != 0x40) {
            return false;
        }
        final int ihl = (p[0] & 0x0f) * 4;
        return ihl >= 20 && ihl <= p.length && TestPackets.u16(p, 2) == p.length && TestPackets.ipChecksumOk(p)
            && (p[8] & 0xff) >= 1 && destination.contains(TestPackets.u32(p, 16));
    }

    private int host(final Ipv4Prefix subnet) {
        return subnet.address() | (random.nextInt(256) & ~subnet.mask());
    }

    private byte[] valid(final int dst) {
        final int length = 20 + (random.nextInt(3) == 0 ? random.nextInt(mtu - 19) : 8 + random.nextInt(100));
        return ip(dst, length, 2 + random.nextInt(254));
    }

    /** A well-formed packet with IP options (IHL 6..15: NOPs, then EOL). */
    private byte[] withOptions(final int dst) {
        final int ihl = 6 + random.nextInt(10);
        final int length = ihl * 4 + 8 + random.nextInt(200);
        final byte[] p = ip(dst, length, 2 + random.nextInt(254));
        p[0] = (byte) (0x40 | ihl);
        for (int i = 20; i < ihl * 4; i++) {
            p[i] = 1; // NOP
        }
        p[ihl * 4 - 1] = 0; // EOL
        TestPackets.fixIp(p);
        return p;
    }

    /** An IPv4 packet of {@code length} bytes, random protocol and payload, correct header checksum. */
    private byte[] ip(final int dst, final int length, final int ttl) {
        final byte[] p = new byte[length];
        random.nextBytes(p);
        p[0] = 0x45;
        p[1] = (byte) (random.nextInt(4) == 0 ? random.nextInt(256) : 0);
        TestPackets.put16(p, 2, length);
        TestPackets.put16(p, 6, random.nextBoolean() ? 0x4000 : 0);
        p[8] = (byte) ttl;
        p[9] = (byte) new int[] {1, 6, 17, 47, random.nextInt(256)}[random.nextInt(5)];
        TestPackets.put32(p, 12, elsewhere.address() | 9);
        TestPackets.put32(p, 16, dst);
        TestPackets.fixIp(p);
        return p;
    }

    private byte[] junk(final int length) {
        final byte[] p = new byte[length];
        random.nextBytes(p);
        return p;
    }

    private static void fixChecksumIfPossible(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        if (ihl >= 20 && ihl <= p.length) {
            TestPackets.fixIp(p);
        }
    }
}
