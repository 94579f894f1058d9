package io.overlay.udp.crypto;

import java.util.Base64;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The state shared by every event loop for one peer public key: the keys of both directions ({@link SessionKeys}),
 * the send counter and the receive {@link ReplayWindow}. Kept while some PublicIP uses the peer's key; then
 * {@link #retire retired} by {@link PeerSessions}, which keeps the counters' marks so that a peer coming back with the
 * same public key continues its counter rather than restarting it (a GCM nonce must never repeat under one key) and
 * old datagrams stay replays.
 */
public final class PeerSession {
    private final byte[] peerPublicKey;
    private final GcmKey sendKey;
    private final int sendKeyId;
    private final GcmKey receiveKey;
    private final int receiveKeyId;
    private final AtomicLong counter;
    private final ReplayWindow window;

    /**
     * Creates the session for derived keys.
     *
     * @param peerPublicKey the peer's raw public key
     * @param keys the derived keys
     */
    public PeerSession(final byte[] peerPublicKey, final SessionKeys keys) {
        this(peerPublicKey, keys, 0, -1);
    }

    /**
     * Creates the session for derived keys, resuming a retired one.
     *
     * @param peerPublicKey the peer's raw public key
     * @param keys the derived keys
     * @param firstCounter the first send counter, 0 or above: above every counter ever sealed under the send key
     * @param receivedHighest every receive counter up to this one is refused as a replay; -1 for none
     */
    public PeerSession(final byte[] peerPublicKey, final SessionKeys keys, final long firstCounter,
                       final long receivedHighest) {
        this.counter = new AtomicLong(firstCounter);
        this.window = new ReplayWindow(receivedHighest);
        this.peerPublicKey = peerPublicKey.clone();
        this.sendKey = GcmKey.of(keys.sendKey());
        this.sendKeyId = keys.sendKeyId();
        this.receiveKey = GcmKey.of(keys.receiveKey());
        this.receiveKeyId = keys.receiveKeyId();
    }

    /** The next send counter; negative once 2^63 packets were sealed (never in practice: then nothing is sealed). */
    long nextCounter() {
        return counter.getAndIncrement();
    }

    GcmKey sendKey() {
        return sendKey;
    }

    int sendKeyId() {
        return sendKeyId;
    }

    GcmKey receiveKey() {
        return receiveKey;
    }

    /** The key id expected in datagrams from the peer. */
    public int receiveKeyId() {
        return receiveKeyId;
    }

    ReplayWindow window() {
        return window;
    }

    /**
     * Retires the session (control thread): from now on sealing fails ({@link #nextCounter} is negative) and
     * opening refuses every counter, and the keys' loop state is released.
     *
     * @return {send counter high-water mark (the next counter never used), highest counter received (-1 for none)}
     */
    long[] retire() {
        final long next = counter.getAndSet(Long.MIN_VALUE);
        final long received = window.close();
        sendKey.release();
        receiveKey.release();
        return new long[] {Math.max(next, 0), received};
    }

    /** Packets sealed under the send key so far. */
    public long sealed() {
        return counter.get();
    }

    /** The peer's public key as published, base64. */
    public String peerPublicKeyBase64() {
        return Base64.getEncoder().encodeToString(peerPublicKey);
    }

    @Override
    public String toString() {
        return "PeerSession[peer key " + peerPublicKeyBase64() + ", send id " + Integer.toHexString(sendKeyId)
            + ", receive id " + Integer.toHexString(receiveKeyId) + "]";
    }
}
