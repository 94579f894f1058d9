package io.overlay.udp.crypto;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EncryptionStatus;
import java.security.KeyPair;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's peer-session table: PublicIP → {@link PeerSession}, fed from peers' leases on a control thread and read
 * by every event loop per packet without a lock (one volatile read of an immutable open-addressing snapshot, rebuilt
 * on each change; peers change rarely). Sessions are kept by peer public key for the life of the process, so a peer
 * that leaves and comes back with the same key continues its counter and replay window.
 */
public final class PeerSessions {
    private static final Logger LOG = LoggerFactory.getLogger(PeerSessions.class);

    private final Encryption mode;
    private final HostKeyPair own;
    private final byte[] psk;
    private final Map<String, PeerSession> byKey = new HashMap<>();
    private final Map<Integer, PeerSession> byIp = new HashMap<>();
    private final TreeSet<Integer> keyless = new TreeSet<>(Integer::compareUnsigned);
    private volatile Snapshot snapshot = new Snapshot(Map.of());

    /**
     * Creates an empty table.
     *
     * @param mode preferred or required
     * @param keyPair this process's X25519 key pair
     * @param publicKey its raw 32-byte public key
     * @param psk the pre-shared key, empty for none
     */
    public PeerSessions(final Encryption mode, final KeyPair keyPair, final byte[] publicKey, final byte[] psk) {
        this.mode = mode;
        this.own = HostKeyPair.of(keyPair, publicKey);
        this.psk = psk.clone();
    }

    /** Whether clear text is refused both ways. */
    public boolean required() {
        return mode == Encryption.REQUIRED;
    }

    /**
     * Looks up the session of a peer. Any thread, lock-free, no allocation.
     *
     * @param publicIp the PublicIP, int form
     * @return the session, or {@code null} if the peer has no key (or is unknown)
     */
    public PeerSession lookup(final int publicIp) {
        return snapshot.get(publicIp);
    }

    /**
     * Sets the key a peer advertises (control thread).
     *
     * @param publicIp the peer's PublicIP
     * @param publicKey its raw public key, or {@code null} for none
     */
    public synchronized void peerKey(final int publicIp, final byte[] publicKey) {
        if (publicKey == null) {
            byIp.remove(publicIp);
            keyless.add(publicIp);
            LOG.info("Peer {} advertises no key: {}", Ipv4.format(publicIp), required()
                ? "unreachable (encryption required)" : "clear text (encryption preferred)");
        } else {
            final String id = Base64.getEncoder().encodeToString(publicKey);
            PeerSession s = byKey.get(id);
            if (s == null) {
                try {
                    s = new PeerSession(publicKey, SessionKeys.derive(own, publicKey, psk));
                } catch (IllegalArgumentException e) {
                    LOG.warn("Peer {} advertises an unusable key {}: {}; treating it as keyless", Ipv4.format(publicIp),
                        id, e.getMessage());
                    peerKey(publicIp, null);
                    return;
                }
                byKey.put(id, s);
            }
            byIp.put(publicIp, s);
            keyless.remove(publicIp);
            LOG.info("Peer {} key {}: sealing ({})", Ipv4.format(publicIp), id, s);
        }
        snapshot = new Snapshot(byIp);
    }

    /**
     * Forgets the peer at {@code publicIp} (its lease is gone); its session stays known by key.
     *
     * @param publicIp the PublicIP
     */
    public synchronized void peerGone(final int publicIp) {
        byIp.remove(publicIp);
        keyless.remove(publicIp);
        snapshot = new Snapshot(byIp);
    }

    /**
     * Returns the mode, own key and keyless peers.
     *
     * @return the status
     */
    public synchronized EncryptionStatus status() {
        return new EncryptionStatus(mode, own.publicKeyBase64(), new ArrayList<>(keyless));
    }

    /** An immutable open-addressing map int → session (linear probing, power-of-two size, load ≤ 1/2). */
    private static final class Snapshot {
        private final int[] keys;
        private final PeerSession[] values;
        private final int mask;

        Snapshot(final Map<Integer, PeerSession> map) {
            int size = 4;
            while (size < map.size() * 2) {
                size <<= 1;
            }
            keys = new int[size];
            values = new PeerSession[size];
            mask = size - 1;
            for (Map.Entry<Integer, PeerSession> e : map.entrySet()) {
                int i = hash(e.getKey()) & mask;
                while (values[i] != null) {
                    i = (i + 1) & mask;
                }
                keys[i] = e.getKey();
                values[i] = e.getValue();
            }
        }

        PeerSession get(final int key) {
            int i = hash(key) & mask;
            PeerSession v;
            while ((v = values[i]) != null) {
                if (keys[i] == key) {
                    return v;
                }
                i = (i + 1) & mask;
            }
            return null;
        }

        private static int hash(final int key) {
            final int h = key * 0x9E3779B9;
            return h ^ h >>> 16;
        }
    }

    /** The peers with a session, for tests and status: PublicIP → session. */
    public synchronized List<Integer> sealedPeers() {
        return new ArrayList<>(byIp.keySet());
    }
}
