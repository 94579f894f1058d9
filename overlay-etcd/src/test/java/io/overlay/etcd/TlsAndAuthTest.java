package io.overlay.etcd;

import static io.overlay.core.net.Ipv4.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.testing.EtcdServer;
import io.overlay.testing.LogCapture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS from PEM files (CA, client certificate and key) and user/password authentication, against a real etcd. */
class TlsAndAuthTest {
    @Test
    void mutualTlsWithPemFiles(@TempDir final Path dir) throws Exception {
        final EtcdServer.Tls tls = TestCerts.create(dir, true);
        try (EtcdServer server = EtcdServer.launch(tls)) {
            assertThat(server.endpoint()).startsWith("https://");
            server.etcdctl("put", "/coreos.com/network/config", "{\"Network\":\"100.64.0.0/16\"}");
            final EtcdSettings s = EtcdSettings.builder().endpoints(server.endpoint()).caFile(tls.caFile())
                .clientCertificate(tls.clientCert(), tls.clientKey()).build();
            try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(s)) {
                final Lease lease = a.acquire(parse("198.18.0.1"), Optional.empty());
                final RecordingListener events = new RecordingListener();
                a.start(lease, events);
                server.etcdctl("put", "/coreos.com/network/subnets/100.64.250.0-24", "{\"PublicIP\":\"198.18.0.9\"}");
                await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 1);
                assertThat(EtcdTestSupport.get(server, "/coreos.com/network/subnets/" + lease.key()).text())
                    .isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
            }

            // Without the client certificate the server refuses us: a WARN names the likely TLS failure; the wait goes on.
            final EtcdSettings noCert = EtcdSettings.builder().endpoints(server.endpoint()).caFile(tls.caFile())
                .requestTimeout(Duration.ofSeconds(5)).build();
            assertConfigWaitWarnsAndGoesOn(noCert, "TLS handshake fails");
        }
    }

    @Test
    void usernameAndPassword() throws Exception {
        try (EtcdServer server = EtcdServer.launch()) {
            server.etcdctl("user", "add", "root:rootpw");
            server.etcdctl("user", "add", "overlay:s3cret");
            server.etcdctl("role", "add", "overlay");
            server.etcdctl("role", "grant-permission", "overlay", "--prefix=true", "readwrite", "/coreos.com/network");
            server.etcdctl("user", "grant-role", "overlay", "overlay");
            server.etcdctl("auth", "enable");
            server.etcdctl("--user=root:rootpw", "put", "/coreos.com/network/config",
                "{\"Network\":\"100.64.0.0/16\"}");

            final EtcdSettings s = EtcdSettings.builder().endpoints(server.endpoint())
                .credentials("overlay", "s3cret").build();
            try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(s)) {
                a.awaitNetworkConfig();
                final Lease lease = a.acquire(parse("198.18.0.1"), Optional.empty());
                a.start(lease, new RecordingListener());
                final String value = server.etcdctl("--user=root:rootpw", "get", "--print-value-only",
                    "/coreos.com/network/subnets/" + lease.key());
                assertThat(value.strip()).isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
            }

            final EtcdSettings wrong = EtcdSettings.builder().endpoints(server.endpoint())
                .credentials("overlay", "wrong").requestTimeout(Duration.ofSeconds(5)).build();
            assertConfigWaitWarnsAndGoesOn(wrong, "authentication failed");
        }
    }

    /**
     * Waits for the network config with {@code settings}, which etcd refuses: one WARN names the cause, the wait goes
     * on until the allocator is closed, then ends exceptionally.
     */
    private static void assertConfigWaitWarnsAndGoesOn(final EtcdSettings settings, final String cause)
        throws Exception {
        try (LogCapture log = new LogCapture(); EtcdSubnetAllocator b = new EtcdSubnetAllocator(settings)) {
            final CompletableFuture<Object> wait = CompletableFuture.supplyAsync(() -> {
                try {
                    return b.awaitNetworkConfig();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> !log.warnings().isEmpty());
            assertThat(log.warnings().get(0)).contains("Cannot read network config").contains(cause);
            assertThat(wait).isNotDone();
            b.close();
            await().atMost(Duration.ofSeconds(10)).until(wait::isDone);
            assertThat(wait).isCompletedExceptionally();
        }
    }
}
