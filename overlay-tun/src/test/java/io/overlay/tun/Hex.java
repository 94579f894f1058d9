package io.overlay.tun;

import java.nio.ByteBuffer;

/** Hex dumps for byte-for-byte assertions. */
final class Hex {
    private Hex() {
    }

    /** Returns the bytes between position and limit as lower-case hex pairs separated by spaces. */
    static String of(final ByteBuffer b) {
        final StringBuilder s = new StringBuilder();
        for (int i = b.position(); i < b.limit(); i++) {
            if (s.length() > 0) {
                s.append(' ');
            }
            s.append(String.format("%02x", b.get(i) & 0xff));
        }
        return s.toString();
    }

    /** Normalises an expected dump written with arbitrary whitespace and '|' group separators. */
    static String expect(final String spaced) {
        return String.join(" ", spaced.replace("|", " ").trim().split("\\s+"));
    }
}
