package io.overlay.udp.crypto;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EncryptionStatus;
import io.overlay.core.spi.PeerKey;
import java.security.KeyPair;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's peer-session table: PublicIP → {@link PeerSession}, fed from peers' leases on a control thread and read
 * by every event loop per packet without a lock (one volatile read of an immutable open-addressing snapshot, rebuilt
 * once per batch of changes).
 *
 * <p>A session lives while some PublicIP uses its peer public key. When none does any more (the peer left or changed
 * its key), the session is retired: its keys' loop state is released and only a tombstone is kept, peer public key →
 * (the highest send sequence any of our loops used, plus one; per sender loop index of the peer, the highest
 * sequence received), at most {@value #TOMBSTONES} of them, oldest evicted first. A key that comes back resumes every
 * loop's send sequence above the mark (an AES-GCM nonce must never repeat under one key, NIST SP 800-38D §8; a
 * counter is {@code (loop << 56) | sequence}, so one mark above every loop's sequence covers them all) and refuses,
 * per sender loop, every sequence it had received up to that loop's mark as a replay. A key whose tombstone was
 * evicted starts its send sequences above the highest mark ever evicted, so it cannot reuse a nonce either; its
 * receive windows then start empty. A tombstone is a few dozen bytes plus 8 per sender loop index the peer used.
 */
public final class PeerSessions {
    /** Tombstones kept of retired sessions. */
    static final int TOMBSTONES = 4096;
    /** Batches up to this size log one line per change; larger ones a summary. */
    private static final int LOG_EACH = 100;
    private static final Logger LOG = LoggerFactory.getLogger(PeerSessions.class);

    private final Encryption mode;
    private final HostKeyPair own;
    private final byte[] psk;
    private final int sendLoops;
    private final Map<String, PeerSession> byKey = new HashMap<>();
    private final Map<PeerSession, Integer> owners = new HashMap<>();
    private final Map<Integer, PeerSession> byIp = new HashMap<>();
    private final TreeSet<Integer> keyless = new TreeSet<>(Integer::compareUnsigned);
    private final LinkedHashMap<String, PeerSession.Marks> tombstones = new LinkedHashMap<>();
    /** The highest send sequence mark of any evicted tombstone: where a key without a tombstone starts. */
    private long evictedSent;
    private volatile Snapshot snapshot = new Snapshot(Map.of());
    /** Published after each change so that {@link #status()} takes no lock (the table's is held during changes). */
    private volatile EncryptionStatus status;

    /**
     * Creates an empty table for one sealing loop.
     *
     * @param mode preferred or required
     * @param keyPair this process's X25519 key pair
     * @param publicKey its raw 32-byte public key
     * @param psk the pre-shared key, empty for none
     */
    public PeerSessions(final Encryption mode, final KeyPair keyPair, final byte[] publicKey, final byte[] psk) {
        this(mode, keyPair, publicKey, psk, 1);
    }

    /**
     * Creates an empty table.
     *
     * @param mode preferred or required
     * @param keyPair this process's X25519 key pair
     * @param publicKey its raw 32-byte public key
     * @param psk the pre-shared key, empty for none
     * @param sendLoops the event loops that seal (loop indexes 0..sendLoops - 1), 1..{@value SealedFrame#MAX_LOOPS}:
     *     each session keeps a send sequence per loop (64 bytes each)
     * @throws IllegalArgumentException if {@code sendLoops} is out of range
     */
    public PeerSessions(final Encryption mode, final KeyPair keyPair, final byte[] publicKey, final byte[] psk,
                        final int sendLoops) {
        if (sendLoops < 1 || sendLoops > SealedFrame.MAX_LOOPS) {
            throw new IllegalArgumentException("send loops must be 1.." + SealedFrame.MAX_LOOPS + ", got " + sendLoops);
        }
        this.sendLoops = sendLoops;
        this.mode = mode;
        this.own = HostKeyPair.of(keyPair, publicKey);
        this.psk = psk.clone();
        this.status = new EncryptionStatus(mode, own.publicKeyBase64(), List.of());
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
    public void peerKey(final int publicIp, final byte[] publicKey) {
        peerKeys(List.of(PeerKey.of(publicIp, publicKey)));
    }

    /**
     * Forgets the peer at {@code publicIp} (no lease uses it any more).
     *
     * @param publicIp the PublicIP
     */
    public void peerGone(final int publicIp) {
        peerKeys(List.of(PeerKey.gone(publicIp)));
    }

    /**
     * Applies a batch of changes in order (control thread): derives the keys not held yet outside the table's lock
     * (one X25519 and a few HMACs each), then applies the batch and publishes the lookup snapshot once.
     *
     * @param changes the changes
     */
    public void peerKeys(final List<PeerKey> changes) {
        final Set<String> live;
        synchronized (this) {
            live = new HashSet<>(byKey.keySet());
        }
        final Map<String, Object> derived = new HashMap<>(); // id → SessionKeys or the IllegalArgumentException
        for (PeerKey c : changes) {
            if (!c.gone() && c.publicKey() != null) {
                final String id = Base64.getEncoder().encodeToString(c.publicKey());
                if (!live.contains(id) && !derived.containsKey(id)) {
                    derived.put(id, derive(c.publicKey()));
                }
            }
        }
        final boolean each = changes.size() <= LOG_EACH;
        int sealing = 0;
        int clear = 0;
        int gone = 0;
        synchronized (this) {
            final Set<PeerSession> released = new HashSet<>(); // identity: PeerSession keeps Object.equals
            for (PeerKey c : changes) {
                final int ip = c.publicIp();
                PeerSession next = null;
                if (!c.gone() && c.publicKey() != null) {
                    final String id = Base64.getEncoder().encodeToString(c.publicKey());
                    next = byKey.get(id);
                    if (next == null) {
                        Object keys = derived.get(id);
                        if (keys == null) { // retired by another batch since: derive again
                            keys = derive(c.publicKey());
                        }
                        if (keys instanceof SessionKeys k) {
                            next = open(id, c.publicKey(), k);
                        } else {
                            LOG.warn("Peer {} advertises an unusable key {}: {}; treating it as keyless",
                                Ipv4.format(ip), id, ((Exception) keys).getMessage());
                        }
                    }
                }
                final PeerSession previous = next == null ? byIp.remove(ip) : byIp.put(ip, next);
                if (next != null) {
                    owners.merge(next, 1, Integer::sum);
                    keyless.remove(ip);
                    sealing++;
                    if (each) {
                        LOG.info("Peer {} key {}: sealing ({})", Ipv4.format(ip), next.peerPublicKeyBase64(), next);
                    }
                } else if (c.gone()) {
                    keyless.remove(ip);
                    gone++;
                } else {
                    keyless.add(ip);
                    clear++;
                    if (each) {
                        LOG.info("Peer {} advertises no key: {}", Ipv4.format(ip), required()
                            ? "unreachable (encryption required)" : "clear text (encryption preferred)");
                    }
                }
                if (previous != null && owners.merge(previous, -1, Integer::sum) == 0) {
                    released.add(previous);
                }
            }
            for (PeerSession s : released) {
                if (owners.getOrDefault(s, 0) == 0) {
                    retire(s);
                }
            }
            publish();
        }
        if (!each) {
            LOG.info("{} peer key changes: {} sealing, {} without a key ({}), {} gone; {} sessions", changes.size(),
                sealing, clear, required() ? "unreachable" : "clear text", gone, byKeySize());
        }
    }

    private synchronized int byKeySize() {
        return byKey.size();
    }

    private Object derive(final byte[] publicKey) {
        try {
            return SessionKeys.derive(own, publicKey, psk);
        } catch (IllegalArgumentException e) {
            return e;
        }
    }

    /** Makes the session of a key, resuming from its tombstone (lock held). */
    private PeerSession open(final String id, final byte[] publicKey, final SessionKeys keys) {
        final PeerSession.Marks tomb = tombstones.remove(id);
        final PeerSession s = tomb == null ? new PeerSession(publicKey, keys, sendLoops, evictedSent, new long[0])
            : new PeerSession(publicKey, keys, sendLoops, Math.max(tomb.sent(), evictedSent), tomb.received());
        byKey.put(id, s);
        return s;
    }

    /** Retires a session no PublicIP uses: keeps its tombstone, releases its keys (lock held). */
    private void retire(final PeerSession s) {
        owners.remove(s);
        final String id = s.peerPublicKeyBase64();
        byKey.remove(id);
        tombstones.put(id, s.retire());
        for (Iterator<PeerSession.Marks> it = tombstones.values().iterator(); tombstones.size() > TOMBSTONES; ) {
            evictedSent = Math.max(evictedSent, it.next().sent());
            it.remove();
        }
    }

    /** Publishes the lookup snapshot and the status (lock held). */
    private void publish() {
        snapshot = new Snapshot(byIp);
        status = new EncryptionStatus(mode, own.publicKeyBase64(), new ArrayList<>(keyless));
    }

    /**
     * Returns the mode, own key and keyless peers as of the last change. Any thread, no lock.
     *
     * @return the status
     */
    public EncryptionStatus status() {
        return status;
    }

    /** Live sessions (used by some PublicIP) and tombstones kept, for tests: {sessions, tombstones}. */
    synchronized int[] sizes() {
        return new int[] {byKey.size(), tombstones.size()};
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
