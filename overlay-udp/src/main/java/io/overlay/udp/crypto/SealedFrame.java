package io.overlay.udp.crypto;

import java.nio.ByteBuffer;

/**
 * The sealed datagram: one inner IPv4 packet encrypted and authenticated with AES-256-GCM (NIST SP 800-38D) under
 * the key of one direction between two hosts. Byte by byte (all integers big-endian):
 *
 * <pre>
 * offset  size  field
 *   0       1   marker 0xE1: its high nibble 14 is neither IP version 4 (RFC 791 §3.1) nor 6 (RFC 8200 §3), so a
 *               receiver tells a sealed datagram from a clear-text one (flannel's udp backend: the inner IPv4 packet
 *               itself, first byte 0x45..0x4F) by this byte alone; the low nibble 1 is the format version
 *   1       4   key id: names the sender → receiver key ({@link SessionKeys#keyId}); a datagram under a key the
 *               receiver does not hold (an old key pair, a peer that restarted) is recognised by it and dropped
 *   5       8   counter: never repeated for a key; (sending loop index &lt;&lt; 56) | that loop's sequence 0, 1, 2, ...
 *               (byte 5 is the sender's loop index, 0..63; bytes 6..12 the loop's 56-bit sequence)
 *  13       n   ciphertext: the inner IPv4 packet (n bytes) encrypted
 * 13+n     16   GCM tag over the ciphertext (no additional authenticated data)
 * </pre>
 *
 * <p>The 96-bit GCM nonce is the key id followed by the counter (bytes 1..12 of the frame), unique per key because
 * the counter never repeats and every process start makes a new key pair (so every key is new). Each sending loop
 * numbers its own packets, so the loops share no counter; loop 0's counters are 0, 1, 2, ..., so a host with one loop
 * sends what it sent before counters were per loop. A receiver keeps one replay window per sender loop index. The
 * header needs no additional authenticated data: the key id must equal the receiver's key id for the sender exactly,
 * and a changed counter changes the nonce, so the tag fails; the marker is a constant. (Leaving the AAD out also
 * spares the JDK's per-packet AAD buffer.) The frame adds
 * {@link #OVERHEAD} = 29 bytes to the inner packet, so a host that may seal lowers its TUN MTU by that much below
 * flannel's (underlay MTU − 28).
 */
public final class SealedFrame {
    /** The first byte of every sealed datagram. */
    public static final byte MARKER = (byte) 0xE1;
    /** Offset of the key id. */
    public static final int KEY_ID = 1;
    /** Offset of the counter. */
    public static final int COUNTER = 5;
    /** Header length: marker, key id, counter; also the offset of the ciphertext. */
    public static final int HEADER = 13;
    /** GCM tag length in bytes (128 bits). */
    public static final int TAG = 16;
    /** Bytes a sealed datagram adds to the inner packet: {@link #HEADER} + {@link #TAG}. */
    public static final int OVERHEAD = HEADER + TAG;
    /** Nonce length in bytes (GCM's recommended 96 bits): key id and counter. */
    public static final int NONCE = 12;

    /** Bits of the counter below the sending loop index: the counter is {@code (loop << 56) | sequence}. */
    public static final int LOOP_SHIFT = 56;
    /** The largest per-loop sequence, 2^56 - 1: a loop that reached it seals nothing more under the key. */
    public static final long MAX_SEQUENCE = (1L << LOOP_SHIFT) - 1;
    /** Sending loop indexes a receiver accepts, 0..63: {@code io.overlay.core.Overlay.MAX_LOOPS} (a test checks). */
    public static final int MAX_LOOPS = 64;

    /** The largest inner packet sealed or opened: an IPv4 packet's largest total length. */
    public static final int MAX_INNER = 65535;

    private SealedFrame() {
    }

    /**
     * Whether a datagram is sealed, by its first byte.
     *
     * @param buf the buffer holding the datagram
     * @param offset absolute index of its first byte
     * @param length its length (0: not sealed)
     * @return {@code true} if the datagram starts with {@link #MARKER}
     */
    public static boolean isSealed(final ByteBuffer buf, final int offset, final int length) {
        return length > 0 && buf.get(offset) == MARKER;
    }

    /**
     * Writes a header.
     *
     * @param header at least {@link #HEADER} bytes
     * @param keyId the key id
     * @param counter the counter
     */
    public static void writeHeader(final byte[] header, final int keyId, final long counter) {
        header[0] = MARKER;
        putInt(header, KEY_ID, keyId);
        putLong(header, COUNTER, counter);
    }

    /** Reads the key id of the frame at {@code offset}. */
    public static int keyId(final ByteBuffer buf, final int offset) {
        return buf.getInt(offset + KEY_ID);
    }

    /** Reads the counter of the frame at {@code offset}. */
    public static long counter(final ByteBuffer buf, final int offset) {
        return buf.getLong(offset + COUNTER);
    }

    /**
     * The counter of sequence {@code sequence} of sending loop {@code loop}.
     *
     * @param loop the loop index, 0..{@value #MAX_LOOPS} - 1
     * @param sequence the loop's sequence, 0..{@link #MAX_SEQUENCE}
     * @return {@code (loop << 56) | sequence}
     */
    public static long counterOf(final int loop, final long sequence) {
        return (long) loop << LOOP_SHIFT | sequence;
    }

    /** The sending loop index of a non-negative counter (its top byte). */
    public static int loopOf(final long counter) {
        return (int) (counter >>> LOOP_SHIFT);
    }

    /** The per-loop sequence of a counter (its low 56 bits). */
    public static long sequenceOf(final long counter) {
        return counter & MAX_SEQUENCE;
    }

    static void putInt(final byte[] b, final int at, final int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    static void putLong(final byte[] b, final int at, final long v) {
        putInt(b, at, (int) (v >>> 32));
        putInt(b, at + 4, (int) v);
    }
}
