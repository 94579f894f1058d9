package io.overlay.etcd;

import static io.overlay.core.net.Ipv4.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.EtcdServer;
import io.overlay.testing.LogCapture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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
                final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
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
            enableAuth(server);

            final EtcdSettings s = EtcdSettings.builder().endpoints(server.endpoint())
                .credentials("overlay", "s3cret").build();
            try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(s)) {
                a.awaitNetworkConfig();
                final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
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
     * etcd's simple auth tokens expire when unused for {@code --auth-token-ttl} (300 s by default): an agent that only
     * renews its lease now and then uses an expired token at each renewal. The client must authenticate again, so
     * renewals and the watch go on and the lease is never lost.
     */
    @Test
    void anExpiredAuthTokenIsReplacedAndTheLeaseKept() throws Exception {
        try (EtcdServer server = EtcdServer.launch(null, List.of("--auth-token-ttl", "1"))) {
            enableAuth(server);
            // a renewal every 3 s, each one after the token expired (1 s unused)
            final EtcdSettings s = EtcdSettings.builder().endpoints(server.endpoint()).credentials("overlay", "s3cret")
                .leaseTtl(Duration.ofSeconds(6)).renewMargin(Duration.ofSeconds(3))
                .renewRetryInterval(Duration.ofSeconds(1)).build();
            try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(s)) {
                final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
                final RecordingListener events = new RecordingListener();
                a.start(lease, events);
                await().atMost(Duration.ofSeconds(30)).until(() -> a.renewals() >= 4);
                Thread.sleep(1500); // the token expires again before the put; the open watch must still deliver
                server.etcdctl("--user=root:rootpw", "put", "/coreos.com/network/subnets/100.64.250.0-24",
                    "{\"PublicIP\":\"198.18.0.9\"}");
                await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 1);
                assertThat(events.matching("lost")).as("the own lease is kept").isEmpty();
                assertThat(server.etcdctl("--user=root:rootpw", "get", "--print-value-only",
                    "/coreos.com/network/subnets/" + lease.key()).strip())
                    .isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
            }
        }
    }

    /**
     * A wait for a lease that began with etcd down and goes on because etcd, back, now refuses this agent (its role
     * lost the permission): the new cause is said at WARN too, not only at DEBUG behind the first one, or the
     * operator's only hint would be an etcd that is long up again.
     */
    @Test
    void aWaitWhoseCauseChangesNamesTheNewCauseAtWarn() throws Exception {
        try (EtcdServer server = EtcdServer.launch()) {
            enableAuth(server);
            final EtcdSettings s = EtcdSettings.builder().endpoints(server.endpoint()).credentials("overlay", "s3cret")
                .requestTimeout(Duration.ofSeconds(2)).backoff(Duration.ofMillis(50), Duration.ofMillis(500)).build();
            try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(s); LogCapture log = new LogCapture()) {
                a.awaitNetworkConfig();
                // taken away while etcd is down: it is the cause once etcd is back
                server.etcdctl("--user=root:rootpw", "role", "revoke-permission", "overlay", "--prefix=true",
                    "/coreos.com/network");
                server.stop();
                final CompletableFuture<Lease> acquired = CompletableFuture.supplyAsync(() -> {
                    try {
                        return a.acquire(parse("198.18.0.1"), Optional.empty());
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                });
                await().atMost(Duration.ofSeconds(30)).until(() -> log.warnings().stream()
                    .anyMatch(m -> m.startsWith("Cannot acquire a lease yet")));
                server.start();
                await().atMost(Duration.ofSeconds(30)).until(() -> log.warnings().stream()
                    .anyMatch(m -> m.startsWith("Cannot acquire a lease yet") && m.contains("permission denied"))
                    || acquired.isDone());
                assertThat(acquired).isNotDone();

                server.etcdctl("--user=root:rootpw", "role", "grant-permission", "overlay", "--prefix=true",
                    "readwrite", "/coreos.com/network");
                final Lease lease = acquired.get(30, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(lease.attrs().publicIp()).isEqualTo(parse("198.18.0.1"));
                assertThat(log.warnings()).as("one WARN per cause, not per attempt: %s", log.warnings())
                    .filteredOn(m -> m.startsWith("Cannot acquire a lease yet")).hasSizeBetween(2, 4);
            }
        }
    }

    /** Adds users root and overlay (read-write on /coreos.com/network), enables auth, writes the network config. */
    static void enableAuth(final EtcdServer server) {
        server.etcdctl("user", "add", "root:rootpw");
        server.etcdctl("user", "add", "overlay:s3cret");
        server.etcdctl("role", "add", "overlay");
        server.etcdctl("role", "grant-permission", "overlay", "--prefix=true", "readwrite", "/coreos.com/network");
        server.etcdctl("user", "grant-role", "overlay", "overlay");
        server.etcdctl("auth", "enable");
        server.etcdctl("--user=root:rootpw", "put", "/coreos.com/network/config", "{\"Network\":\"100.64.0.0/16\"}");
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
