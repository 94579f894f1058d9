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
}
