package io.overlay.core.spi;

import java.util.List;

/**
 * What the engine's encryption looks like now, for status pages.
 *
 * @param mode the mode
 * @param publicKey this host's public key as published (base64), or {@code null} when off
 * @param keylessPeers PublicIPs (int form) of peers that advertise no key: with {@link Encryption#REQUIRED} they
 *     cannot be reached (nothing is sent to them, nothing accepted from them); with {@link Encryption#PREFERRED}
 *     they get clear text
 */
public record EncryptionStatus(Encryption mode, String publicKey, List<Integer> keylessPeers) {
    /** Encryption off. */
    public static final EncryptionStatus OFF = new EncryptionStatus(Encryption.OFF, null, List.of());

    /**
     * Copies the list.
     */
    public EncryptionStatus {
        keylessPeers = List.copyOf(keylessPeers);
    }
}
