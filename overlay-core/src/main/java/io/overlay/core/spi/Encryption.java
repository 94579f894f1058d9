package io.overlay.core.spi;

import java.util.Locale;

/**
 * Whether overlay hosts seal their datagrams to each other ({@code --encryption}). Sealed datagrams are AES-256-GCM
 * frames under per-peer keys agreed with X25519 through the public keys in the leases ({@code docs/encryption.md});
 * flanneld never seals and ignores the keys.
 */
public enum Encryption {
    /** flannel's behaviour byte for byte: no key in the lease, clear-text datagrams, flannel's MTU. The default. */
    OFF,
    /** Seal to peers that advertise a key, clear text to peers that do not; accept both. */
    PREFERRED,
    /**
     * Seal everything; refuse clear text both ways (counted as {@link DropReason#PEER_HAS_NO_KEY} and
     * {@link DropReason#CLEAR_TEXT_REFUSED}); the status names the peers that advertise no key.
     */
    REQUIRED;

    /**
     * Parses {@code off}, {@code preferred} or {@code required} (any case).
     *
     * @param text the value
     * @return the mode
     * @throws IllegalArgumentException naming the value and the choices
     */
    public static Encryption parse(final String text) {
        if (text != null) {
            for (Encryption e : values()) {
                if (e.name().equalsIgnoreCase(text.trim())) {
                    return e;
                }
            }
        }
        throw new IllegalArgumentException("encryption must be off, preferred or required, got '" + text + "'");
    }

    /** The lower-case name used on the command line. */
    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
