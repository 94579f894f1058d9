package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Validation and defaults of {@link EtcdSettings} (no etcd needed). */
class EtcdSettingsTest {
    @Test
    void defaultsAreFlannels() {
        final EtcdSettings s = EtcdSettings.builder().build();
        assertThat(s.endpoints()).containsExactly(URI.create("http://127.0.0.1:4001"),
            URI.create("http://127.0.0.1:2379"));
        assertThat(s.prefix()).isEqualTo("/coreos.com/network");
        assertThat(s.configKey()).isEqualTo("/coreos.com/network/config");
        assertThat(s.subnetsPrefix()).isEqualTo("/coreos.com/network/subnets");
        assertThat(s.leaseTtl()).isEqualTo(Duration.ofHours(24));
        assertThat(s.renewMargin()).isEqualTo(Duration.ofMinutes(60));
        assertThat(s.renewRetryInterval()).isEqualTo(Duration.ofMinutes(1));
        assertThat(s.backoffMin()).isEqualTo(Duration.ofMillis(100));
        assertThat(s.backoffMax()).isEqualTo(Duration.ofSeconds(5));
        assertThat(s.tls()).isFalse();
        assertThat(s.username()).isEmpty();
    }

    @Test
    void trailingSlashesOnThePrefixAreDropped() {
        assertThat(EtcdSettings.builder().prefix("/coreos.com/network/").build().configKey())
            .isEqualTo("/coreos.com/network/config");
        assertThat(EtcdSettings.builder().prefix("/x//").build().subnetsPrefix()).isEqualTo("/x/subnets");
        assertThatThrownBy(() -> EtcdSettings.builder().prefix("coreos.com/network"))
            .hasMessageContaining("absolute key path");
        assertThatThrownBy(() -> EtcdSettings.builder().prefix("///")).hasMessageContaining("\"///\"");
    }

    @Test
    void severalEndpointsCommaSeparatedOrNot() {
        final EtcdSettings s = EtcdSettings.builder()
            .endpoints("http://127.0.0.1:2379, http://127.0.0.2:2379", "http://127.0.0.3:2379").build();
        assertThat(s.endpoints()).hasSize(3);
    }

    @Test
    void badEndpointsAreNamed() {
        assertThatThrownBy(() -> EtcdSettings.builder().endpoints("127.0.0.1:2379"))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("127.0.0.1:2379");
        assertThatThrownBy(() -> EtcdSettings.builder().endpoints("http://127.0.0.1"))
            .hasMessageContaining("needs a host and a port");
        assertThatThrownBy(() -> EtcdSettings.builder().endpoints("unix://x:1")).hasMessageContaining("http://");
        assertThatThrownBy(() -> EtcdSettings.builder().endpoints("")).hasMessageContaining("at least one");
        assertThatThrownBy(() -> EtcdSettings.builder().endpoints("http://a:1", "https://b:2").build())
            .hasMessageContaining("mix http and https");
    }

    @Test
    void tlsFilesNeedHttpsAndMustExist(@TempDir final Path dir) throws Exception {
        final Path ca = Files.writeString(dir.resolve("ca.pem"), "x");
        assertThatThrownBy(() -> EtcdSettings.builder().caFile(ca).build())
            .hasMessageContaining("use https:// endpoints");
        assertThatThrownBy(() -> EtcdSettings.builder().endpoints("https://127.0.0.1:2379")
            .caFile(dir.resolve("missing.pem")).build())
            .hasMessageContaining("CA file").hasMessageContaining("missing.pem");
        final EtcdSettings s = EtcdSettings.builder().endpoints("https://127.0.0.1:2379").caFile(ca).build();
        assertThat(s.tls()).isTrue();
        assertThat(s.caFile()).contains(ca);
    }

    /** flanneld's rule for a lone --etcd-cafile, owned here so that launchers agree with the library. */
    @Test
    void aFlanneldCaFileIsIgnoredWithHttpEndpointsAndUsedWithHttps(@TempDir final Path dir) throws Exception {
        final Path ca = Files.writeString(dir.resolve("ca.pem"), "x");
        final EtcdSettings plain = EtcdSettings.builder().endpoints("http://127.0.0.1:2379")
            .flanneldCaFile(dir.resolve("missing.pem")).build();
        assertThat(plain.caFile()).isEmpty();
        assertThat(plain.tls()).isFalse();
        final EtcdSettings tls = EtcdSettings.builder().endpoints("https://127.0.0.1:2379").flanneldCaFile(ca)
            .build();
        assertThat(tls.caFile()).contains(ca);
        assertThatThrownBy(() -> EtcdSettings.builder().endpoints("https://127.0.0.1:2379")
            .flanneldCaFile(dir.resolve("missing.pem")).build()).hasMessageContaining("missing.pem");
        // caFile() after flanneldCaFile() is strict again
        assertThatThrownBy(() -> EtcdSettings.builder().flanneldCaFile(ca).caFile(ca).build())
            .hasMessageContaining("use https:// endpoints");
    }

    /** The record's canonical constructor validates as the builder does: no invalid settings, however made. */
    @Test
    void theCanonicalConstructorValidatesToo() {
        final EtcdSettings d = EtcdSettings.builder().build();
        final EtcdSettings copy = new EtcdSettings(d.endpoints(), d.prefix() + "//", d.caFile(), d.certFile(),
            d.keyFile(), d.username(), d.password(), d.requestTimeout(), d.connectTimeout(), d.leaseTtl(),
            d.renewMargin(), d.renewRetryInterval(), d.backoffMin(), d.backoffMax(), d.resyncInterval(), d.ticker());
        assertThat(copy).isEqualTo(d);
        assertThat(copy.prefix()).isEqualTo("/coreos.com/network");
        assertThatThrownBy(() -> new EtcdSettings(java.util.List.of(), d.prefix(), d.caFile(), d.certFile(),
            d.keyFile(), d.username(), d.password(), d.requestTimeout(), d.connectTimeout(), d.leaseTtl(),
            d.renewMargin(), d.renewRetryInterval(), d.backoffMin(), d.backoffMax(), d.resyncInterval(), d.ticker()))
            .hasMessageContaining("at least one");
        assertThatThrownBy(() -> new EtcdSettings(d.endpoints(), d.prefix(), d.caFile(), d.certFile(),
            d.keyFile(), java.util.Optional.of("u"), java.util.Optional.empty(), d.requestTimeout(),
            d.connectTimeout(), d.leaseTtl(), d.renewMargin(), d.renewRetryInterval(), d.backoffMin(),
            d.backoffMax(), d.resyncInterval(), d.ticker())).hasMessageContaining("password");
        assertThatThrownBy(() -> new EtcdSettings(d.endpoints(), d.prefix(), d.caFile(), d.certFile(),
            d.keyFile(), d.username(), d.password(), d.requestTimeout(), d.connectTimeout(), d.leaseTtl(),
            d.leaseTtl(), d.renewRetryInterval(), d.backoffMin(), d.backoffMax(), d.resyncInterval(), d.ticker()))
            .hasMessageContaining("shorter than leaseTtl");
        assertThatThrownBy(() -> new EtcdSettings(d.endpoints(), d.prefix(), d.caFile(), d.certFile(),
            d.keyFile(), d.username(), d.password(), d.requestTimeout(), d.connectTimeout(), d.leaseTtl(),
            d.renewMargin(), d.renewRetryInterval(), d.backoffMax(), d.backoffMin(), d.resyncInterval(), d.ticker()))
            .hasMessageContaining("below min");
        assertThat(EtcdSettings.builder().credentials("u", "secret").build().toString()).contains("user=u")
            .doesNotContain("secret");
    }

    @Test
    void durationsAreChecked() {
        assertThatThrownBy(() -> EtcdSettings.builder().leaseTtl(Duration.ZERO)).hasMessageContaining("leaseTtl");
        assertThatThrownBy(() -> EtcdSettings.builder().leaseTtl(Duration.ofMillis(1500)).build())
            .hasMessageContaining("whole seconds");
        assertThatThrownBy(() -> EtcdSettings.builder().leaseTtl(Duration.ofMinutes(10))
            .renewMargin(Duration.ofMinutes(10)).build()).hasMessageContaining("shorter than leaseTtl");
        assertThatThrownBy(() -> EtcdSettings.builder().backoff(Duration.ofSeconds(2), Duration.ofSeconds(1)))
            .hasMessageContaining("below min");
        assertThatThrownBy(() -> EtcdSettings.builder().credentials("", "x")).hasMessageContaining("user name");
    }

    @Test
    void toStringHidesThePassword() {
        assertThat(EtcdSettings.builder().credentials("root", "s3cret").build().toString())
            .contains("user=root").doesNotContain("s3cret");
    }
}
