package io.overlay.udp.crypto;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EncryptionStatus;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The peer-session table: lookups, status, batches, and what is kept of a peer that left. */
class PeerSessionsTest {
    private static final HostKeyPair OWN = HostKeyPair.fromSeed("peer-sessions-test", 1);

    static PeerSessions sessions(final Encryption mode) {
        return new PeerSessions(mode, OWN.toJdkKeyPair(), OWN.publicKey(), new byte[0]);
    }

    static byte[] key(final int host) {
        return HostKeyPair.fromSeed("peer-sessions-test", host).publicKey();
    }

    @Test
    void statusTakesNoLockWhileTheTableIsBusy() throws Exception {
        final PeerSessions s = sessions(Encryption.REQUIRED);
        s.peerKey(7, null);
        final EncryptionStatus status;
        synchronized (s) { // as a control thread deriving a key would hold it
            status = CompletableFuture.supplyAsync(s::status).get(5, TimeUnit.SECONDS);
        }
        assertThat(status.mode()).isEqualTo(Encryption.REQUIRED);
        assertThat(status.keylessPeers()).containsExactly(7);
        assertThat(status.publicKey()).isEqualTo(OWN.publicKeyBase64());
    }

    @Test
    void aBatchOfManyPeersIsAppliedOnceAndSharedKeysDeriveOnce() {
        final PeerSessions s = sessions(Encryption.PREFERRED);
        final java.util.List<io.overlay.core.spi.PeerKey> batch = new java.util.ArrayList<>();
        for (int h = 2; h < 502; h++) {
            batch.add(io.overlay.core.spi.PeerKey.of(h, key(h)));
        }
        batch.add(io.overlay.core.spi.PeerKey.of(1000, null));
        s.peerKeys(batch);
        assertThat(s.sealedPeers()).hasSize(500);
        assertThat(s.lookup(2)).isNotNull();
        assertThat(s.lookup(1000)).isNull();
        assertThat(s.status().keylessPeers()).containsExactly(1000);
        assertThat(s.sizes()[0]).isEqualTo(500);
    }

    @Test
    void aPeerThatLeavesIsReleasedAndComesBackAboveItsCountersWithOldDatagramsStillReplays() {
        final PeerSessions s = sessions(Encryption.REQUIRED);
        s.peerKey(2, key(2));
        final PeerSession first = s.lookup(2);
        for (int i = 0; i < 10; i++) {
            first.nextCounter();
        }
        assertThat(first.window().accept(41)).isTrue();
        s.peerGone(2);
        assertThat(s.lookup(2)).isNull();
        assertThat(s.sizes()).containsExactly(0, 1);
        assertThat(first.nextCounter()).as("a retired session seals nothing more").isNegative();
        assertThat(first.window().accept(42)).as("nor opens").isFalse();

        s.peerKey(2, key(2));
        final PeerSession back = s.lookup(2);
        assertThat(back).isNotSameAs(first);
        assertThat(s.sizes()).containsExactly(1, 0);
        assertThat(back.nextCounter()).as("resumes above every counter used").isEqualTo(10);
        assertThat(back.window().accept(41)).as("a captured old datagram is a replay").isFalse();
        assertThat(back.window().accept(3)).isFalse();
        assertThat(back.window().accept(42)).isTrue();
    }

    @Test
    void aKeyChangeReleasesTheOldSessionAndItsSlotIsReused() {
        final PeerSessions s = sessions(Encryption.REQUIRED);
        s.peerKey(2, key(2));
        final PeerSession old = s.lookup(2);
        s.peerKey(2, key(3)); // a restart: new key pair
        assertThat(s.lookup(2)).isNotSameAs(old);
        assertThat(s.sizes()).containsExactly(1, 1);
        s.peerKey(4, key(4));
        // the new session took one of the slots the old one gave back
        final java.util.Set<Integer> freed = java.util.Set.of(old.sendKey().slot, old.receiveKey().slot);
        assertThat(freed).contains(s.lookup(4).sendKey().slot);
    }

    @Test
    void tombstonesAreBoundedAndAKeyWhoseTombstoneWasEvictedStartsAboveEveryEvictedCounter() {
        final PeerSessions s = sessions(Encryption.REQUIRED);
        s.peerKey(2, key(2));
        for (int i = 0; i < 1000; i++) {
            s.lookup(2).nextCounter();
        }
        s.peerGone(2);
        final java.util.List<io.overlay.core.spi.PeerKey> batch = new java.util.ArrayList<>();
        for (int h = 10; h < 10 + PeerSessions.TOMBSTONES; h++) {
            batch.add(io.overlay.core.spi.PeerKey.of(h, key(h)));
        }
        s.peerKeys(batch);
        batch.replaceAll(k -> io.overlay.core.spi.PeerKey.gone(k.publicIp()));
        s.peerKeys(batch);
        assertThat(s.sizes()).containsExactly(0, PeerSessions.TOMBSTONES); // key(2)'s was the oldest: evicted
        s.peerKey(2, key(2));
        assertThat(s.lookup(2).nextCounter()).as("no nonce of key(2) reused").isGreaterThanOrEqualTo(1000);
    }
}
