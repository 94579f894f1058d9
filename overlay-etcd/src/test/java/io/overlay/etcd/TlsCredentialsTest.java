package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.testing.EtcdServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How the etcd TLS files are checked before a client is built from them, and how a change is noticed. */
class TlsCredentialsTest {
    private static EtcdSettings settings(final Path ca, final Path cert, final Path key) {
        return EtcdSettings.builder().endpoints("https://127.0.0.1:2379").caFile(ca).clientCertificate(cert, key)
            .build();
    }

    @Test
    void aGoodSetLoadsAndNamesTheCertificate(@TempDir final Path dir) throws Exception {
        final EtcdServer.Tls tls = TestCerts.create(dir, true);
        final TlsCredentials c = TlsCredentials.load(settings(tls.caFile(), tls.clientCert(), tls.clientKey()),
            Instant.now());
        assertThat(c.timeProblem()).isEmpty();
        assertThat(c.toString()).contains("CN=client").contains("valid until");
        assertThat(c.cert()).isEqualTo(Files.readAllBytes(tls.clientCert()));
        // a CA bundle (old and new CA during a roll-over) is fine too
        final Path other = Files.createDirectories(dir.resolve("other"));
        final EtcdServer.Tls tls2 = TestCerts.create(other, true);
        final Path bundle = dir.resolve("bundle.pem");
        Files.writeString(bundle, Files.readString(tls.caFile()) + Files.readString(tls2.caFile()));
        assertThat(TlsCredentials.load(settings(bundle, tls.clientCert(), tls.clientKey()), Instant.now())
            .timeProblem()).isEmpty();
    }

    @Test
    void unusableFilesAreNamedWithTheirProblem(@TempDir final Path dir) throws Exception {
        final EtcdServer.Tls tls = TestCerts.create(dir, true);
        final EtcdSettings s = settings(tls.caFile(), tls.clientCert(), tls.clientKey());

        // an EC key in OpenSSL's traditional format, which gRPC's TLS cannot read
        TestCerts.openssl(dir, "ec", "-in", "client.key", "-out", "client.key");
        assertThatThrownBy(() -> TlsCredentials.load(s, Instant.now()))
            .hasMessageContaining("client key file " + tls.clientKey())
            .hasMessageContaining("EC PRIVATE KEY, not an unencrypted PKCS#8 PRIVATE KEY");

        // an RSA key for the EC certificate
        TestCerts.openssl(dir, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
            "client.key");
        assertThatThrownBy(() -> TlsCredentials.load(s, Instant.now()))
            .hasMessageContaining("client key file " + tls.clientKey() + " does not match the client certificate");

        Files.write(tls.caFile(), new byte[0]);
        assertThatThrownBy(() -> TlsCredentials.load(s, Instant.now()))
            .hasMessageContaining("CA file " + tls.caFile() + " is empty");

        Files.delete(tls.caFile());
        assertThatThrownBy(() -> TlsCredentials.load(s, Instant.now()))
            .hasMessageContaining("CA file " + tls.caFile() + " cannot be read");
    }

    @Test
    void datesAreReportedNotThrown(@TempDir final Path dir) throws Exception {
        final EtcdServer.Tls tls = TestCerts.create(dir, true);
        final EtcdSettings s = settings(tls.caFile(), tls.clientCert(), tls.clientKey());
        assertThat(TlsCredentials.load(s, Instant.now().plusSeconds(5 * 86400)).timeProblem()).hasValueSatisfying(
            p -> assertThat(p).contains("client certificate file " + tls.clientCert()).contains("expired at"));
        assertThat(TlsCredentials.load(s, Instant.now().minusSeconds(86400)).timeProblem()).hasValueSatisfying(
            p -> assertThat(p).contains("is not valid before"));
    }

    @Test
    void theStampChangesWhenAFileIsReplacedOrItsSymlinkSwapped(@TempDir final Path dir) throws Exception {
        final EtcdServer.Tls tls = TestCerts.create(dir, true);
        final Path v1 = Files.createDirectories(dir.resolve("v1"));
        final Path v2 = Files.createDirectories(dir.resolve("v2"));
        Files.copy(tls.clientCert(), v1.resolve("tls.crt"));
        Files.copy(tls.clientCert(), v2.resolve("tls.crt"));
        Files.createSymbolicLink(dir.resolve("data"), v1.getFileName());
        final Path cert = dir.resolve("tls.crt");
        Files.createSymbolicLink(cert, Path.of("data", "tls.crt"));
        final EtcdSettings s = settings(tls.caFile(), cert, tls.clientKey());

        final TlsCredentials.Stamp first = TlsCredentials.Stamp.of(s);
        assertThat(TlsCredentials.Stamp.of(s)).isEqualTo(first);
        // the same bytes behind a swapped link: another file
        final Path tmp = dir.resolve("data.tmp");
        Files.createSymbolicLink(tmp, v2.getFileName());
        Files.move(tmp, dir.resolve("data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        final TlsCredentials.Stamp second = TlsCredentials.Stamp.of(s);
        assertThat(second).isNotEqualTo(first);
        // a key renamed over with the same bytes
        final Path k = dir.resolve("k.tmp");
        Files.copy(tls.clientKey(), k);
        Files.move(k, tls.clientKey(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        assertThat(TlsCredentials.Stamp.of(s)).isNotEqualTo(second);
        Files.delete(tls.clientKey());
        assertThat(TlsCredentials.Stamp.of(s).parts().get(2)).startsWith("unreadable: ");
    }
}
