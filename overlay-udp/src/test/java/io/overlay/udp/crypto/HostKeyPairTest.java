package io.overlay.udp.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Base64;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** X25519 through the JDK against RFC 7748 §5.2 and §6.1, and the published key's encoding. */
class HostKeyPairTest {
    static final HexFormat HEX = HexFormat.of();
    static final byte[] ALICE = HEX.parseHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    static final byte[] BOB = HEX.parseHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");

    @Test
    void rfc7748Section61DiffieHellman() {
        final HostKeyPair alice = HostKeyPair.of(ALICE);
        final HostKeyPair bob = HostKeyPair.of(BOB);
        assertThat(HEX.formatHex(alice.publicKey()))
            .isEqualTo("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        assertThat(HEX.formatHex(bob.publicKey()))
            .isEqualTo("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        final String shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
        assertThat(HEX.formatHex(alice.agree(bob.publicKey()))).isEqualTo(shared);
        assertThat(HEX.formatHex(bob.agree(alice.publicKey()))).isEqualTo(shared);
    }

    @Test
    void rfc7748Section52FirstVector() {
        final HostKeyPair k = HostKeyPair.of(
            HEX.parseHex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"));
        assertThat(HEX.formatHex(k.agree(
            HEX.parseHex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"))))
            .isEqualTo("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
    }

    @Test
    void generatedPairsAgreeAndDiffer() {
        final HostKeyPair a = HostKeyPair.generate();
        final HostKeyPair b = HostKeyPair.generate();
        assertThat(a.agree(b.publicKey())).isEqualTo(b.agree(a.publicKey()));
        assertThat(a.publicKey()).isNotEqualTo(b.publicKey());
        assertThat(a.publicKeyBase64()).hasSize(44);
        assertThat(HostKeyPair.parsePublicKey(a.publicKeyBase64())).isEqualTo(a.publicKey());
    }

    @Test
    void lowOrderPointAndMalformedKeysAreRefusedByName() {
        final HostKeyPair a = HostKeyPair.generate();
        assertThatThrownBy(() -> a.agree(new byte[32])).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("peer's public key");
        assertThatThrownBy(() -> HostKeyPair.parsePublicKey("not base64!")).hasMessageContaining("not base64");
        assertThatThrownBy(() -> HostKeyPair.parsePublicKey(Base64.getEncoder().encodeToString(new byte[31])))
            .hasMessageContaining("must be 32 bytes, got 31");
    }
}
