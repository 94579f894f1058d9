package io.overlay.udp.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.Overlay;
import io.overlay.core.spi.Encryption;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Counters per sending loop ({@code (loop << 56) | sequence}) and one replay window per (session, sender loop):
 * the layout on the wire, a receiving loop lagging far behind another, windows made lazily by racing loops,
 * tombstones per sender loop, sequence exhaustion, and no allocation per packet in steady state.
 */
class PerLoopCountersTest {
    private static final HexFormat HEX = HexFormat.of();
    /** A 28-byte ICMP echo request, 100.64.1.1 → 100.64.2.1. */
    private static final byte[] PACKET = HEX.parseHex("4500001c000100004001f96d64400101644002010800f7ff00000000");
    private static final HostKeyPair ALICE = HostKeyPair.of(HostKeyPairTest.ALICE);
    private static final HostKeyPair BOB = HostKeyPair.of(HostKeyPairTest.BOB);

    @Test
    void theCounterIsTheLoopIndexInItsTopByteAndThatLoopsSequenceBelow() {
        assertThat(SealedFrame.MAX_LOOPS).as("every loop index a host may have fits the top byte")
            .isEqualTo(Overlay.MAX_LOOPS).isLessThanOrEqualTo(1 << 64 - SealedFrame.LOOP_SHIFT - 1);
        assertThat(SealedFrame.counterOf(SealedFrame.MAX_LOOPS - 1, SealedFrame.MAX_SEQUENCE))
            .as("the highest counter stays positive").isEqualTo(0x3fffffffffffffffL);
        final PeerSession alice = new PeerSession(BOB.publicKey(), SessionKeys.derive(ALICE, BOB.publicKey(),
            new byte[0]), 4, 0, new long[0]);
        final ByteBuffer src = direct(PACKET);
        final ByteBuffer dst = ByteBuffer.allocateDirect(256);
        final PacketSealer loop0 = new PacketSealer(0);
        final PacketSealer loop3 = new PacketSealer(3);
        assertThat(header(loop0, alice, src, dst)).isEqualTo("e1f52bebd70000000000000000");
        assertThat(header(loop3, alice, src, dst)).isEqualTo("e1f52bebd70300000000000000");
        assertThat(header(loop3, alice, src, dst)).isEqualTo("e1f52bebd70300000000000001");
        assertThat(header(loop0, alice, src, dst)).as("loop 0 counts 0, 1, 2 as one loop did")
            .isEqualTo("e1f52bebd70000000000000001");
        assertThat(alice.sealed()).isEqualTo(4);
        assertThatThrownBy(() -> new PacketSealer(SealedFrame.MAX_LOOPS)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("loop index must be 0..63, got 64");
        assertThat(new PacketSealer(5).seal(alice, src, 0, PACKET.length, dst, 0))
            .as("a loop the session was not made for seals nothing").isEqualTo(-1);
    }

    /**
     * The failure of one window for all loops: the receiving loop of the sender's loop 0 is descheduled while the
     * other opens more than a window's worth of loop 1's later datagrams; loop 0's originals must still be accepted.
     */
    @Test
    void aReceivingLoopFarBehindTheOtherRefusesNoneOfItsOriginals() {
        final PeerSession alice = new PeerSession(BOB.publicKey(), SessionKeys.derive(ALICE, BOB.publicKey(),
            new byte[0]), 2, 0, new long[0]);
        final PeerSession bob = SealedFrameTest.session(BOB, ALICE, new byte[0]);
        final PacketSealer[] sealers = {new PacketSealer(0), new PacketSealer(1)};
        final PacketOpener opener = new PacketOpener();
        final ByteBuffer src = direct(PACKET);
        final int n = 40_000;
        final List<List<byte[]>> byLoop = List.of(new ArrayList<>(), new ArrayList<>());
        final ByteBuffer dst = ByteBuffer.allocateDirect(256);
        for (int i = 0; i < n; i++) { // the sender's loops seal alternately
            final int loop = i & 1;
            final int len = sealers[loop].seal(alice, src, 0, PACKET.length, dst, 0);
            final byte[] frame = new byte[len];
            dst.get(0, frame);
            byLoop.get(loop).add(frame);
        }
        final ByteBuffer buf = ByteBuffer.allocateDirect(256);
        int refused = 0;
        for (int loop : new int[] {1, 0}) { // the receiving loop of sender loop 1 runs first, loop 0's lags
            for (byte[] frame : byLoop.get(loop)) {
                buf.put(0, frame);
                if (opener.open(bob, buf, 0, frame.length) != PACKET.length) {
                    refused++;
                }
            }
        }
        assertThat(refused).as("originals refused of " + n).isZero();
        buf.put(0, byLoop.get(0).get(n / 2 - 1));
        assertThat(opener.open(bob, buf, 0, byLoop.get(0).get(0).length)).as("a replay in loop 0's window")
            .isEqualTo(PacketOpener.REPLAYED);
        buf.put(0, byLoop.get(1).get(n / 2 - 1));
        assertThat(opener.open(bob, buf, 0, byLoop.get(1).get(0).length)).as("a replay in loop 1's window")
            .isEqualTo(PacketOpener.REPLAYED);
    }

    @Test
    void aCounterOfALoopIndexNoHostHasIsRefusedBeforeDecryption() {
        final PeerSession bob = SealedFrameTest.session(BOB, ALICE, new byte[0]);
        assertThat(bob.mayAccept(SealedFrame.counterOf(63, 0))).isTrue();
        assertThat(bob.mayAccept(SealedFrame.counterOf(64, 0))).isFalse();
        assertThat(bob.accept(SealedFrame.counterOf(64, 0))).isFalse();
        assertThat(bob.mayAccept(-1)).isFalse();
        assertThat(bob.window(63)).as("a pre-check makes no window").isNull();
    }

    @Test
    void twoReceivingLoopsRacingToMakeASenderLoopsWindowKeepOneAndAcceptEachCounterOnce() throws Exception {
        final ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            for (int round = 0; round < 200; round++) {
                final PeerSession bob = SealedFrameTest.session(BOB, ALICE, new byte[0]);
                final CyclicBarrier start = new CyclicBarrier(2);
                final List<Future<Integer>> accepted = new ArrayList<>();
                for (int t = 0; t < 2; t++) {
                    accepted.add(pool.submit(() -> {
                        start.await();
                        int ok = 0;
                        for (int loop = 1; loop < SealedFrame.MAX_LOOPS; loop++) {
                            for (long seq = 0; seq < 4; seq++) {
                                ok += bob.accept(SealedFrame.counterOf(loop, seq)) ? 1 : 0;
                            }
                        }
                        return ok;
                    }));
                }
                final int total = accepted.get(0).get(10, TimeUnit.SECONDS) + accepted.get(1).get(10, TimeUnit.SECONDS);
                assertThat(total).as("round %d: each counter accepted by one loop exactly", round)
                    .isEqualTo((SealedFrame.MAX_LOOPS - 1) * 4);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRetiredSessionMakesNoWindowEvenWhenALoopRacesIt() throws Exception {
        for (int round = 0; round < 200; round++) {
            final PeerSessions s = PeerSessionsTest.sessions(Encryption.REQUIRED);
            s.peerKey(2, PeerSessionsTest.key(2));
            final PeerSession session = s.lookup(2);
            final Thread loop = new Thread(() -> {
                for (int i = 1; i < SealedFrame.MAX_LOOPS; i++) {
                    session.accept(SealedFrame.counterOf(i, 9));
                }
            });
            loop.start();
            s.peerGone(2);
            loop.join(10_000);
            for (int i = 1; i < SealedFrame.MAX_LOOPS; i++) {
                assertThat(session.accept(SealedFrame.counterOf(i, 10))).as("round %d, loop %d", round, i).isFalse();
            }
            s.peerKey(2, PeerSessionsTest.key(2));
            final PeerSession back = s.lookup(2);
            for (int i = 1; i < SealedFrame.MAX_LOOPS; i++) { // whatever the racing loop accepted stays a replay
                assertThat(back.accept(SealedFrame.counterOf(i, 9))).as("round %d, loop %d", round, i)
                    .isEqualTo(session.window(i) == null || session.window(i).highest() < 9);
            }
        }
    }

    @Test
    void aResumedSessionRefusesEverySequenceSeenPerSenderLoopAndSealsAboveEveryLoopsSequence() {
        final PeerSessions s = new PeerSessions(Encryption.REQUIRED, HostKeyPair.fromSeed("peer-sessions-test", 1)
            .toJdkKeyPair(), HostKeyPair.fromSeed("peer-sessions-test", 1).publicKey(), new byte[0], 2);
        s.peerKey(2, PeerSessionsTest.key(2));
        final PeerSession first = s.lookup(2);
        for (int i = 0; i < 10; i++) {
            first.nextCounter(0);
        }
        for (int i = 0; i < 3; i++) {
            first.nextCounter(1);
        }
        assertThat(first.accept(SealedFrame.counterOf(0, 41))).isTrue();
        assertThat(first.accept(SealedFrame.counterOf(1, 7))).isTrue();
        assertThat(first.accept(SealedFrame.counterOf(5, 100))).isTrue();
        s.peerGone(2);
        assertThat(first.nextCounter(0)).isNegative();
        assertThat(first.nextCounter(1)).isNegative();
        assertThat(first.accept(SealedFrame.counterOf(2, 0))).as("no window made after retiring").isFalse();

        s.peerKey(2, PeerSessionsTest.key(2));
        final PeerSession back = s.lookup(2);
        assertThat(back.nextCounter(0)).isEqualTo(10);
        assertThat(back.nextCounter(1)).as("every loop resumes above every loop's sequence")
            .isEqualTo(SealedFrame.counterOf(1, 10));
        for (long[] seen : new long[][] {{0, 41}, {0, 3}, {1, 7}, {1, 0}, {5, 100}, {5, 99}}) {
            final long c = SealedFrame.counterOf((int) seen[0], seen[1]);
            assertThat(back.mayAccept(c)).as("loop %d sequence %d", seen[0], seen[1]).isFalse();
            assertThat(back.accept(c)).as("loop %d sequence %d", seen[0], seen[1]).isFalse();
        }
        assertThat(back.accept(SealedFrame.counterOf(1, 8))).isTrue();
        assertThat(back.accept(SealedFrame.counterOf(2, 0))).as("a loop index not seen before").isTrue();
        assertThat(back.accept(SealedFrame.counterOf(0, 42))).isTrue();

        // retired again without a datagram of loop 5: its mark is carried over
        s.peerGone(2);
        s.peerKey(2, PeerSessionsTest.key(2));
        final PeerSession third = s.lookup(2);
        assertThat(third.accept(SealedFrame.counterOf(5, 100))).isFalse();
        assertThat(third.accept(SealedFrame.counterOf(1, 8))).isFalse();
        assertThat(third.accept(SealedFrame.counterOf(2, 0))).isFalse();
        assertThat(third.accept(SealedFrame.counterOf(5, 101))).isTrue();
        assertThat(third.nextCounter(1)).isEqualTo(SealedFrame.counterOf(1, 11));
    }

    @Test
    void aLoopWhoseSequenceIsExhaustedSealsNothingMoreAndNeitherDoesItsResumedSession() {
        final PeerSession near = new PeerSession(PeerSessionsTest.key(2), SessionKeys.derive(ALICE, BOB.publicKey(),
            new byte[0]), 2, SealedFrame.MAX_SEQUENCE, new long[0]);
        assertThat(near.nextCounter(1)).isEqualTo(SealedFrame.counterOf(1, SealedFrame.MAX_SEQUENCE));
        assertThat(near.nextCounter(1)).as("never wraps into loop 2's counters").isEqualTo(-1);
        assertThat(near.nextCounter(1)).isEqualTo(-1);
        assertThat(near.nextCounter(0)).isEqualTo(SealedFrame.MAX_SEQUENCE);
        assertThat(near.nextCounter(0)).isEqualTo(-1);
        final ByteBuffer dst = ByteBuffer.allocateDirect(256);
        assertThat(new PacketSealer(1).seal(near, direct(PACKET), 0, PACKET.length, dst, 0)).isEqualTo(-1);
        final PeerSession.Marks marks = near.retire();
        assertThat(marks.sent()).isEqualTo(SealedFrame.MAX_SEQUENCE + 1);
        final PeerSession resumed = new PeerSession(PeerSessionsTest.key(2), SessionKeys.derive(ALICE,
            BOB.publicKey(), new byte[0]), 2, marks.sent(), marks.received());
        assertThat(resumed.nextCounter(0)).isEqualTo(-1);
        assertThat(resumed.nextCounter(1)).isEqualTo(-1);
    }

    @Test
    void sealingAndOpeningFromTwoLoopsAllocateNothingPerPacketOnceEachLoopsWindowExists() {
        final com.sun.management.ThreadMXBean mx =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        final PeerSession alice = new PeerSession(BOB.publicKey(), SessionKeys.derive(ALICE, BOB.publicKey(),
            new byte[0]), 2, 0, new long[0]);
        final PeerSession bob = SealedFrameTest.session(BOB, ALICE, new byte[0]);
        final PacketSealer[] sealers = {
            new PacketSealer(new IntrinsicGcm(), 0), new PacketSealer(new IntrinsicGcm(), 1)};
        final PacketOpener opener = new PacketOpener(new IntrinsicGcm());
        final ByteBuffer src = direct(new byte[1400]);
        final ByteBuffer buf = ByteBuffer.allocateDirect(2048);
        for (int i = 0; i < 20_000; i++) { // warm up, and the first datagram of loop 1 makes its window
            final int n = sealers[i & 1].seal(alice, src, 0, 1400, buf, 0);
            assertThat(opener.open(bob, buf, 0, n)).isEqualTo(1400);
        }
        final long before = mx.getCurrentThreadAllocatedBytes();
        int opened = 0;
        for (int i = 0; i < 10_000; i++) {
            final int n = sealers[i & 1].seal(alice, src, 0, 1400, buf, 0);
            opened += opener.open(bob, buf, 0, n) == 1400 ? 1 : 0;
        }
        final long allocated = mx.getCurrentThreadAllocatedBytes() - before;
        assertThat(opened).isEqualTo(10_000);
        assertThat(allocated / 10_000).as("bytes allocated per seal + open (%d in all)", allocated).isZero();
    }

    private static String header(final PacketSealer sealer, final PeerSession session, final ByteBuffer src,
                                 final ByteBuffer dst) {
        sealer.seal(session, src, 0, PACKET.length, dst, 0);
        final byte[] h = new byte[SealedFrame.HEADER];
        dst.get(0, h);
        return HEX.formatHex(h);
    }

    private static ByteBuffer direct(final byte[] b) {
        final ByteBuffer buf = ByteBuffer.allocateDirect(b.length + 16);
        buf.put(0, b);
        return buf;
    }
}
