package io.overlay.core.spi;

import com.fasterxml.jackson.databind.JsonNode;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.json.JsonTrees;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.interfaces.XECPublicKey;
import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;
import java.util.Optional;

/**
 * What the packet engine needs to seal: the mode, this process's X25519 key pair (made fresh by {@link #create}, never
 * stored) and the optional pre-shared key. The public key is published in the lease's {@code BackendData} as
 * {@code {"PublicKey":"<base64 of the 32 raw bytes>"}}, the field and encoding of flannel's wireguard backend
 * (flannel v0.20.2 {@code pkg/backend/wireguard/wireguard.go}); flanneld's udp backend ignores {@code BackendData}.
 *
 * @param mode the mode; with {@link Encryption#OFF} the key fields are null
 * @param keyPair the JDK X25519 key pair, or {@code null} when off
 * @param publicKey the raw 32-byte public key (RFC 7748 §5 little-endian u), or {@code null} when off
 * @param psk the pre-shared key (empty for none)
 */
public record EngineEncryption(Encryption mode, KeyPair keyPair, byte[] publicKey, byte[] psk) {
    /** Encryption off. */
    public static final EngineEncryption OFF = new EngineEncryption(Encryption.OFF, null, null, new byte[0]);
    /**
     * Bytes a sealed datagram adds to the inner packet (the sealed frame's 13-byte header and 16-byte tag); a host
     * that may seal lowers its TUN MTU by this much.
     */
    public static final int OVERHEAD = 29;

    /**
     * Checks the parts.
     *
     * @throws IllegalArgumentException if a key is missing while on, or the public key is not 32 bytes
     */
    public EngineEncryption {
        Objects.requireNonNull(mode, "mode");
        psk = psk == null ? new byte[0] : psk.clone();
        if (mode != Encryption.OFF && (keyPair == null || publicKey == null || publicKey.length != 32)) {
            throw new IllegalArgumentException("encryption " + mode + " needs an X25519 key pair and its 32-byte "
                + "public key");
        }
    }

    /**
     * Makes the settings for {@code mode}: a new X25519 key pair unless off.
     *
     * @param mode the mode
     * @param psk the pre-shared key, empty for none
     * @return the settings
     */
    public static EngineEncryption create(final Encryption mode, final byte[] psk) {
        if (mode == Encryption.OFF) {
            return OFF;
        }
        try {
            final KeyPair kp = KeyPairGenerator.getInstance("X25519").generateKeyPair();
            return new EngineEncryption(mode, kp, littleEndian(((XECPublicKey) kp.getPublic()).getU()), psk);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("X25519 is missing from this JDK", e);
        }
    }

    /** Whether datagrams may be sealed (preferred or required). */
    public boolean on() {
        return mode != Encryption.OFF;
    }

    /**
     * The lease attributes this host writes: flannel's udp value when off, else with {@code BackendData}
     * {@code {"PublicKey":"..."}}.
     *
     * @param publicIp the PublicIP, int form
     * @return the attributes
     */
    public LeaseAttrs leaseAttrs(final int publicIp) {
        if (!on()) {
            return LeaseAttrs.udp(publicIp);
        }
        return new LeaseAttrs(publicIp, null, null,
            "{\"PublicKey\":\"" + Base64.getEncoder().encodeToString(publicKey) + "\"}");
    }

    /**
     * Reads the public key a lease advertises.
     *
     * @param attrs the lease's attributes
     * @return the raw 32-byte key; empty when the lease has no {@code BackendData.PublicKey} (flanneld, or an overlay
     *     host with encryption off)
     * @throws IllegalArgumentException naming what is wrong if {@code PublicKey} is there but not base64 of 32 bytes
     */
    public static Optional<byte[]> publicKeyOf(final LeaseAttrs attrs) {
        if (attrs.backendData() == null) {
            return Optional.empty();
        }
        final JsonNode data;
        try {
            data = JsonTrees.read(attrs.backendData());
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("BackendData is not JSON: " + attrs.backendData(), e);
        }
        final JsonNode key = data == null || !data.isObject() ? null : field(data, "PublicKey");
        if (key == null || key.isNull()) {
            return Optional.empty();
        }
        final byte[] raw;
        try {
            raw = Base64.getDecoder().decode(key.asText());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("BackendData.PublicKey is not base64: '" + key.asText() + "'", e);
        }
        if (raw.length != 32) {
            throw new IllegalArgumentException("BackendData.PublicKey must be 32 bytes, got " + raw.length);
        }
        return Optional.of(raw);
    }

    /** The field named {@code name} ignoring case, the last of several, as Go's encoding/json matches keys. */
    private static JsonNode field(final JsonNode object, final String name) {
        JsonNode found = null;
        for (java.util.Iterator<String> it = object.fieldNames(); it.hasNext(); ) {
            final String n = it.next();
            if (n.equalsIgnoreCase(name)) {
                found = object.get(n);
            }
        }
        return found;
    }

    private static byte[] littleEndian(final BigInteger u) {
        final byte[] be = u.toByteArray();
        final byte[] le = new byte[32];
        for (int i = 0; i < 32 && i < be.length; i++) {
            le[i] = be[be.length - 1 - i];
        }
        return le;
    }

    @Override
    public boolean equals(final Object o) {
        return o instanceof EngineEncryption e && mode == e.mode && keyPair == e.keyPair
            && Arrays.equals(publicKey, e.publicKey) && Arrays.equals(psk, e.psk);
    }

    @Override
    public int hashCode() {
        return mode.hashCode() * 31 + Arrays.hashCode(publicKey);
    }

    @Override
    public String toString() {
        return "EngineEncryption[" + mode + (on() ? ", public key " + Base64.getEncoder().encodeToString(publicKey)
            + (psk.length > 0 ? ", with PSK" : "") : "") + "]";
    }
}
