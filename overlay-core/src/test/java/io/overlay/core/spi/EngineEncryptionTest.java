package io.overlay.core.spi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.net.Ipv4;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.Test;

class EngineEncryptionTest {
    private static final int IP = Ipv4.parse("198.18.0.1");

    @Test
    void offWritesFlannelsUdpLeaseValueByteForByte() {
        assertThat(EngineEncryption.OFF.leaseAttrs(IP).toBytes())
            .isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}".getBytes(StandardCharsets.UTF_8));
        assertThat(EngineEncryption.create(Encryption.OFF, new byte[0])).isSameAs(EngineEncryption.OFF);
        assertThat(EngineEncryption.OFF.on()).isFalse();
    }

    @Test
    void onPublishesTheRawPublicKeyInBackendDataAsFlannelsWireguardBackend() {
        final EngineEncryption e = EngineEncryption.create(Encryption.REQUIRED, new byte[0]);
        final String b64 = Base64.getEncoder().encodeToString(e.publicKey());
        final LeaseAttrs attrs = e.leaseAttrs(IP);
        assertThat(attrs.toJson())
            .isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null,\"BackendData\":{\"PublicKey\":\"" + b64
                + "\"}}");
        // read back as a peer reads it
        final LeaseAttrs parsed = LeaseAttrs.parse(attrs.toBytes());
        assertThat(EngineEncryption.publicKeyOf(parsed)).hasValueSatisfying(k -> assertThat(k)
            .isEqualTo(e.publicKey()));
        assertThat(e.publicKey()).hasSize(32);
        assertThat(EngineEncryption.create(Encryption.REQUIRED, new byte[0]).publicKey())
            .as("a new key pair per start").isNotEqualTo(e.publicKey());
    }

    @Test
    void leasesWithoutAKeyHaveNoneAndBadKeysAreNamed() {
        assertThat(EngineEncryption.publicKeyOf(LeaseAttrs.udp(IP))).isEmpty();
        final LeaseAttrs vxlan = LeaseAttrs.parse(("{\"PublicIP\":\"198.18.0.2\",\"BackendType\":\"vxlan\","
            + "\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"c6:d2:32:6f:8f:44\"}}").getBytes(StandardCharsets.UTF_8));
        assertThat(EngineEncryption.publicKeyOf(vxlan)).isEmpty();
        final LeaseAttrs lowerCase = LeaseAttrs.parse(("{\"PublicIP\":\"198.18.0.2\",\"BackendData\":{\"publickey\":\""
            + Base64.getEncoder().encodeToString(new byte[32]) + "\"}}").getBytes(StandardCharsets.UTF_8));
        assertThat(EngineEncryption.publicKeyOf(lowerCase)).isPresent();
        assertThatThrownBy(() -> EngineEncryption.publicKeyOf(new LeaseAttrs(IP, null, null,
            "{\"PublicKey\":\"AAAA\"}"))).hasMessageContaining("must be 32 bytes, got 3");
        assertThatThrownBy(() -> EngineEncryption.publicKeyOf(new LeaseAttrs(IP, null, null,
            "{\"PublicKey\":\"***\"}"))).hasMessageContaining("not base64");
    }

    @Test
    void modesParseByNameAndRefuseOthersByName() {
        assertThat(Encryption.parse("Required")).isEqualTo(Encryption.REQUIRED);
        assertThat(Encryption.parse("off")).isEqualTo(Encryption.OFF);
        assertThat(Encryption.PREFERRED).hasToString("preferred");
        assertThatThrownBy(() -> Encryption.parse("on")).hasMessage(
            "encryption must be off, preferred or required, got 'on'");
    }
}
