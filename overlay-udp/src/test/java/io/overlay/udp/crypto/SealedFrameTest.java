package io.overlay.udp.crypto;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * Key derivation and the frame against fixed vectors computed independently (Python's {@code cryptography}, i.e.
 * OpenSSL, from the RFC 7748 §6.1 key pairs, the derivation of {@link SessionKeys} and the layout of
 * {@link SealedFrame}), and every refusal of {@link PacketOpener}.
 */
class SealedFrameTest {
    private static final HexFormat HEX = HexFormat.of();
    /** A 28-byte ICMP echo request, 100.64.1.1 → 100.64.2.1. */
    private static final byte[] PACKET = HEX.parseHex("4500001c000100004001f96d64400101644002010800f7ff00000000");
    private static final HostKeyPair ALICE = HostKeyPair.of(HostKeyPairTest.ALICE);
    private static final HostKeyPair BOB = HostKeyPair.of(HostKeyPairTest.BOB);

    @Test
    void derivedKeysAndIdsMatchTheVectorsAndMirrorEachOther() {
        final SessionKeys a = SessionKeys.derive(ALICE, BOB.publicKey(), new byte[0]);
        final SessionKeys b = SessionKeys.derive(BOB, ALICE.publicKey(), new byte[0]);
        assertThat(HEX.formatHex(a.sendKey()))
            .isEqualTo("b0f1e2d246368ee245528423ac4fdbb2d1e15ff620dba61ba6497eaa057177e9");
        assertThat(HEX.formatHex(a.receiveKey()))
            .isEqualTo("feb44d43377f115822de2fb7399b5ca07a05323d73e4f7e9191f20961523c3d8");
        assertThat(a.sendKeyId()).isEqualTo(0xf52bebd7);
        assertThat(a.receiveKeyId()).isEqualTo(0x23058160);
        assertThat(b.sendKey()).isEqualTo(a.receiveKey());
        assertThat(b.receiveKey()).isEqualTo(a.sendKey());
        assertThat(b.sendKeyId()).isEqualTo(a.receiveKeyId());
        final SessionKeys withPsk = SessionKeys.derive(ALICE, BOB.publicKey(), range32());
        assertThat(HEX.formatHex(withPsk.sendKey()))
            .isEqualTo("678f842cd6eb98afa8a1072fa38a4e7416d2d542a3e8dceaace206f3aa37bb60");
        assertThat(withPsk.sendKeyId()).isEqualTo(a.sendKeyId());
    }

    @Test
    void sealedFramesMatchTheVectorsByteForByte() {
        final PeerSession alice = session(ALICE, BOB, new byte[0]);
        final PacketSealer sealer = new PacketSealer();
        final ByteBuffer src = direct(PACKET, 3);
        final ByteBuffer dst = ByteBuffer.allocateDirect(256);
        assertThat(sealer.seal(alice, src, 3, PACKET.length, dst, 7)).isEqualTo(PACKET.length + 29);
        assertThat(hex(dst, 7, PACKET.length + 29)).isEqualTo("e1f52bebd70000000000000000"
            + "72c2230e67651f20e218a89f96030d328c25cda0f82d301cef8a9a12" + "a800556fb6cb22dfd449c81a360970fb");
        for (int i = 1; i < 7; i++) {
            sealer.seal(alice, src, 3, PACKET.length, dst, 7);
        }
        sealer.seal(alice, src, 3, PACKET.length, dst, 7);
        assertThat(hex(dst, 7, PACKET.length + 29)).isEqualTo("e1f52bebd70000000000000007787d8797382d8cb97ac049d66bf4a"
            + "bddb4d8fc075c011791bf87d8ec5fb122934648f20df87c208d1709f3fd");
        final PeerSession withPsk = session(ALICE, BOB, range32());
        sealer.seal(withPsk, src, 3, PACKET.length, dst, 7);
        assertThat(hex(dst, 7, PACKET.length + 29)).isEqualTo("e1f52bebd7000000000000000032ffb58e299575ec3427d40560e1"
            + "e5d567ce1fc42faf2aa027a6444830a40c34368b6e6a5b3daf4120190bc6");
    }

    @Test
    void openRestoresThePacketInPlaceAndRefusesReplayFlipUnknownKeyAndShortFrames() {
        final PeerSession alice = session(ALICE, BOB, new byte[0]);
        final PeerSession bob = session(BOB, ALICE, new byte[0]);
        final PacketSealer sealer = new PacketSealer();
        final PacketOpener opener = new PacketOpener();
        final ByteBuffer src = direct(PACKET, 0);
        final ByteBuffer buf = ByteBuffer.allocateDirect(256);
        final int n = sealer.seal(alice, src, 0, PACKET.length, buf, 11);
        final byte[] frame = bytes(buf, 11, n);
        assertThat(opener.open(bob, buf, 11, n)).isEqualTo(PACKET.length);
        assertThat(bytes(buf, 11, PACKET.length)).isEqualTo(PACKET);

        buf.put(11, frame);
        assertThat(opener.open(bob, buf, 11, n)).as("replay").isEqualTo(PacketOpener.REPLAYED);

        for (int bit : new int[] {5 * 8, 13 * 8 + 3, (n - 1) * 8 + 7}) { // counter, ciphertext, tag
            final int fresh = sealer.seal(alice, src, 0, PACKET.length, buf, 11);
            buf.put(11 + bit / 8, (byte) (buf.get(11 + bit / 8) ^ 1 << bit % 8));
            assertThat(opener.open(bob, buf, 11, fresh)).as("bit %d flipped", bit).isEqualTo(PacketOpener.BAD_TAG);
        }
        final int fresh = sealer.seal(alice, src, 0, PACKET.length, buf, 11);
        assertThat(opener.open(bob, buf, 11, fresh)).as("the flips did not consume counters").isEqualTo(28);

        // the key of a previous key pair of Alice: another key id
        final PeerSession oldAlice = session(HostKeyPair.generate(), BOB, new byte[0]);
        final int old = sealer.seal(oldAlice, src, 0, PACKET.length, buf, 11);
        assertThat(opener.open(bob, buf, 11, old)).isEqualTo(PacketOpener.UNKNOWN_KEY);
        // another PSK: same key id, the tag fails
        final PeerSession otherPsk = session(ALICE, BOB, range32());
        int psk = 0;
        for (int i = 0; i < 10; i++) { // past the counters bob has seen, so that only the tag can fail
            psk = sealer.seal(otherPsk, src, 0, PACKET.length, buf, 11);
        }
        assertThat(opener.open(bob, buf, 11, psk)).isEqualTo(PacketOpener.BAD_TAG);
        assertThat(opener.open(bob, buf, 11, SealedFrame.OVERHEAD - 1)).isEqualTo(PacketOpener.MALFORMED);
    }

    @Test
    void theMarkerIsNoIpVersion() {
        assertThat((SealedFrame.MARKER & 0xf0) >>> 4).isNotIn(4, 6);
        assertThat(SealedFrame.isSealed(ByteBuffer.wrap(PACKET), 0, PACKET.length)).isFalse();
        assertThat(SealedFrame.OVERHEAD).isEqualTo(29);
    }

    static PeerSession session(final HostKeyPair own, final HostKeyPair peer, final byte[] psk) {
        return new PeerSession(peer.publicKey(), SessionKeys.derive(own, peer.publicKey(), psk));
    }

    private static byte[] range32() {
        final byte[] b = new byte[32];
        for (int i = 0; i < 32; i++) {
            b[i] = (byte) i;
        }
        return b;
    }

    private static ByteBuffer direct(final byte[] bytes, final int at) {
        final ByteBuffer b = ByteBuffer.allocateDirect(at + bytes.length + 64);
        b.put(at, bytes);
        return b;
    }

    private static byte[] bytes(final ByteBuffer b, final int at, final int n) {
        final byte[] out = new byte[n];
        b.get(at, out);
        return out;
    }

    private static String hex(final ByteBuffer b, final int at, final int n) {
        return HEX.formatHex(bytes(b, at, n));
    }
}
