package io.overlay.etcd;

import static io.overlay.core.net.Ipv4.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.EtcdServer;
import io.overlay.testing.LogCapture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * etcd client credentials rotated while the agent runs, against a real etcd 3.4 with TLS and client-certificate
 * authentication: the CA rolled over (etcd restarted with a server certificate of a new CA that trusts only the new
 * client CA) and the agent's three files replaced on disk, by rename as cert-manager and kubelet write files or by the
 * symlink swap of a Kubernetes secret volume, before or after the restart; and files replaced by broken ones. The
 * agent must carry on without a restart: its lease renewed, its peer watch delivering.
 */
class CredentialRotationTest {
    private final List<EtcdSubnetAllocator> toClose = new ArrayList<>();

    /** The agent's files, as --etcd-cafile, --etcd-certfile, --etcd-keyfile name them. */
    private record AgentFiles(Path ca, Path cert, Path key) {
    }

    @Test
    void caRollOverWithFilesRenamedAfterEtcdRestarted(@TempDir final Path dir) throws Exception {
        final EtcdServer.Tls old = TestCerts.create(Files.createDirectories(dir.resolve("old")), true);
        final EtcdServer.Tls next = TestCerts.create(Files.createDirectories(dir.resolve("new")), true);
        final AgentFiles files = plainFiles(Files.createDirectories(dir.resolve("agent")), old);
        try (EtcdServer server = EtcdServer.launch(old); LogCapture log = new LogCapture()) {
            final Running agent = startAgent(server, files);
            rollOver(server, next);
            renameInto(files, next);
            assertCarriesOn(server, agent, log, "100.64.250.0-24");
        }
    }

    @Test
    void caRollOverWithFilesRenamedBeforeEtcdRestarted(@TempDir final Path dir) throws Exception {
        final EtcdServer.Tls old = TestCerts.create(Files.createDirectories(dir.resolve("old")), true);
        final EtcdServer.Tls next = TestCerts.create(Files.createDirectories(dir.resolve("new")), true);
        final AgentFiles files = plainFiles(Files.createDirectories(dir.resolve("agent")), old);
        try (EtcdServer server = EtcdServer.launch(old); LogCapture log = new LogCapture()) {
            final Running agent = startAgent(server, files);
            renameInto(files, next);
            // etcd still serves the old CA: the new files do not work yet, the old client keeps going
            Thread.sleep(7000);
            server.etcdctl("put", "/coreos.com/network/subnets/100.64.249.0-24", "{\"PublicIP\":\"198.18.0.8\"}");
            await().atMost(Duration.ofSeconds(10))
                .until(() -> agent.events.peers.containsKey(Ipv4Prefix.parse("100.64.249.0/24")));
            rollOver(server, next);
            assertCarriesOn(server, agent, log, "100.64.250.0-24");
        }
    }

    @Test
    void caRollOverWithKubernetesSecretVolumeSymlinkSwap(@TempDir final Path dir) throws Exception {
        final EtcdServer.Tls old = TestCerts.create(Files.createDirectories(dir.resolve("old")), true);
        final EtcdServer.Tls next = TestCerts.create(Files.createDirectories(dir.resolve("new")), true);
        final Path volume = Files.createDirectories(dir.resolve("secret"));
        final AgentFiles files = secretVolume(volume, old);
        try (EtcdServer server = EtcdServer.launch(old); LogCapture log = new LogCapture()) {
            final Running agent = startAgent(server, files);
            rollOver(server, next);
            swapSecretVolume(volume, next, "..v2");
            assertCarriesOn(server, agent, log, "100.64.250.0-24");
        }
    }

    /**
     * Files replaced by broken ones: half written, a key that does not belong to the certificate, an expired
     * certificate. Each is refused with an ERROR naming the file and the problem; the agent keeps its working
     * credentials, its lease and its watch. A good certificate afterwards is taken.
     */
    @Test
    void brokenReplacementsAreRefusedAndTheWorkingCredentialsKept(@TempDir final Path dir) throws Exception {
        final Path caDir = Files.createDirectories(dir.resolve("ca"));
        final EtcdServer.Tls tls = TestCerts.create(caDir, true);
        final AgentFiles files = plainFiles(Files.createDirectories(dir.resolve("agent")), tls);
        final Path other = TestCerts.clientCert(caDir, "other", 2);
        final Path expired = TestCerts.clientCert(caDir, "expired", -1);
        try (EtcdServer server = EtcdServer.launch(tls); LogCapture log = new LogCapture()) {
            final Running agent = startAgent(server, files);

            // half written: the first half of the PEM certificate
            final String pem = Files.readString(tls.clientCert());
            atomicWrite(files.cert(), pem.substring(0, pem.length() / 2).getBytes());
            awaitError(log, files.cert().toString(), "cannot be parsed");
            assertStillWorks(server, agent, "100.64.240.0-24");

            // a valid certificate with the old key: they do not belong together
            atomicWrite(files.cert(), Files.readAllBytes(other));
            awaitError(log, files.key().toString(), "does not match");
            assertStillWorks(server, agent, "100.64.241.0-24");

            // an expired certificate with its own key
            atomicWrite(files.key(), Files.readAllBytes(caDir.resolve("expired.key")));
            atomicWrite(files.cert(), Files.readAllBytes(expired));
            awaitError(log, files.cert().toString(), "expired");
            assertStillWorks(server, agent, "100.64.242.0-24");
            assertThat(log.count("Reloaded etcd client credentials")).as("nothing broken was taken").isZero();

            // a good one (another certificate of the same CA) is taken
            atomicWrite(files.key(), Files.readAllBytes(caDir.resolve("other.key")));
            atomicWrite(files.cert(), Files.readAllBytes(other));
            await().atMost(Duration.ofSeconds(30)).until(() -> log.count("Reloaded etcd client credentials") == 1);
            assertStillWorks(server, agent, "100.64.243.0-24");
            assertThat(agent.events.matching("lost")).isEmpty();
        }
    }

    /**
     * The agent's etcd user got a new password (here: removed and added again, which also ends its tokens). The
     * password is an option, read once: the agent cannot follow; it must say so with one clear ERROR naming the user
     * and what to do, and say when etcd accepts it again.
     */
    @Test
    void aChangedPasswordIsOneClearError() throws Exception {
        try (EtcdServer server = EtcdServer.launch(null, List.of("--auth-token-ttl", "1"));
             LogCapture log = new LogCapture()) {
            server.etcdctl("user", "add", "root:rootpw");
            server.etcdctl("user", "add", "overlay:s3cret");
            server.etcdctl("role", "add", "overlay");
            server.etcdctl("role", "grant-permission", "overlay", "--prefix=true", "readwrite", "/coreos.com/network");
            server.etcdctl("user", "grant-role", "overlay", "overlay");
            server.etcdctl("auth", "enable");
            server.etcdctl("--user=root:rootpw", "put", "/coreos.com/network/config", "{\"Network\":\"100.64.0.0/16\"}");
            final EtcdSettings s = EtcdSettings.builder().endpoints(server.endpoint()).credentials("overlay", "s3cret")
                .leaseTtl(Duration.ofSeconds(30)).renewMargin(Duration.ofSeconds(28))
                .renewRetryInterval(Duration.ofSeconds(1)).requestTimeout(Duration.ofSeconds(2))
                .resyncInterval(Duration.ofSeconds(3)).backoff(Duration.ofMillis(100), Duration.ofSeconds(1)).build();
            final EtcdSubnetAllocator a = new EtcdSubnetAllocator(s);
            toClose.add(a);
            final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
            a.start(lease, new RecordingListener());
            await().atMost(Duration.ofSeconds(10)).until(() -> a.renewals() >= 1);

            server.etcdctl("--user=root:rootpw", "user", "delete", "overlay");
            server.etcdctl("--user=root:rootpw", "user", "add", "overlay:n3w");
            await().atMost(Duration.ofSeconds(30)).until(() -> log.errors().stream()
                .anyMatch(m -> m.contains("etcd refuses the user name and password") && m.contains("overlay")
                    && m.contains("restart")));
            Thread.sleep(4000);
            assertThat(log.errors().stream().filter(m -> m.contains("etcd refuses the user name"))).as("said once")
                .hasSize(1);
        }
    }

    /** An allocator with its listener, started on a lease renewed every 2 s. */
    private record Running(EtcdSubnetAllocator allocator, RecordingListener events, Lease lease) {
    }

    private Running startAgent(final EtcdServer server, final AgentFiles files) throws Exception {
        server.etcdctl("put", "/coreos.com/network/config", "{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings s = EtcdSettings.builder().endpoints(server.endpoint()).caFile(files.ca())
            .clientCertificate(files.cert(), files.key()).leaseTtl(Duration.ofSeconds(30))
            .renewMargin(Duration.ofSeconds(28)).renewRetryInterval(Duration.ofSeconds(1))
            .requestTimeout(Duration.ofSeconds(2)).connectTimeout(Duration.ofSeconds(2))
            .backoff(Duration.ofMillis(100), Duration.ofSeconds(1)).build();
        final EtcdSubnetAllocator a = new EtcdSubnetAllocator(s);
        toClose.add(a);
        final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        await().atMost(Duration.ofSeconds(10)).until(() -> events.listed.size() == 1 && a.renewals() >= 1);
        return new Running(a, events, lease);
    }

    @AfterEach
    void closeAgents() {
        toClose.forEach(EtcdSubnetAllocator::close);
        toClose.clear();
    }

    /** Restarts etcd with the new CA's server certificate, trusting only the new CA's client certificates. */
    private static void rollOver(final EtcdServer server, final EtcdServer.Tls next) throws IOException {
        server.stop();
        server.tls(next);
        server.start();
    }

    /**
     * After a roll-over: the credentials were reloaded (one INFO line), a peer added now is delivered, renewals go
     * on, the own lease was never lost and its key still holds this host's value.
     */
    private static void assertCarriesOn(final EtcdServer server, final Running agent, final LogCapture log,
                                        final String peerKey) {
        assertStillWorks(server, agent, peerKey);
        assertThat(log.count("Reloaded etcd client credentials")).as("one INFO line says so").isEqualTo(1);
        assertThat(agent.events.matching("lost")).as("the own lease is kept").isEmpty();
        assertThat(server.etcdctl("get", "--print-value-only",
            "/coreos.com/network/subnets/" + agent.lease().key()).strip())
            .isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
    }

    /** A peer put now is delivered and the lease is renewed again. */
    private static void assertStillWorks(final EtcdServer server, final Running agent, final String peerKey) {
        final long renewals = agent.allocator().renewals();
        server.etcdctl("put", "/coreos.com/network/subnets/" + peerKey, "{\"PublicIP\":\"198.18.0.9\"}");
        final Ipv4Prefix subnet = Ipv4Prefix.parse(peerKey.replace('-', '/'));
        await("peer " + peerKey + " delivered").atMost(Duration.ofSeconds(30))
            .until(() -> agent.events.peers.containsKey(subnet));
        await("lease renewed again").atMost(Duration.ofSeconds(30))
            .until(() -> agent.allocator().renewals() > renewals);
    }

    private static void awaitError(final LogCapture log, final String file, final String problem) {
        await().atMost(Duration.ofSeconds(30)).until(() -> log.errors().stream()
            .anyMatch(m -> m.contains(file) && m.contains(problem)));
    }

    /** Copies the CA, client certificate and key into {@code dir} as ca.pem, tls.crt, tls.key. */
    private static AgentFiles plainFiles(final Path dir, final EtcdServer.Tls tls) throws IOException {
        final AgentFiles f = new AgentFiles(dir.resolve("ca.pem"), dir.resolve("tls.crt"), dir.resolve("tls.key"));
        renameInto(f, tls);
        return f;
    }

    /** Replaces each file as cert-manager and kubelet do: written next to it, then renamed over it. */
    private static void renameInto(final AgentFiles f, final EtcdServer.Tls tls) throws IOException {
        atomicWrite(f.ca(), Files.readAllBytes(tls.caFile()));
        atomicWrite(f.cert(), Files.readAllBytes(tls.clientCert()));
        atomicWrite(f.key(), Files.readAllBytes(tls.clientKey()));
    }

    private static void atomicWrite(final Path target, final byte[] content) throws IOException {
        final Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
        Files.write(tmp, content);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * A Kubernetes secret volume as kubelet's AtomicWriter lays it out: the files in a timestamped directory,
     * {@code ..data} a symlink to it, and each visible name a symlink through {@code ..data}.
     */
    private static AgentFiles secretVolume(final Path volume, final EtcdServer.Tls tls) throws IOException {
        swapSecretVolume(volume, tls, "..v1");
        final Map<String, String> names = Map.of("ca.crt", "ca.crt", "tls.crt", "tls.crt", "tls.key", "tls.key");
        for (String n : names.keySet()) {
            Files.createSymbolicLink(volume.resolve(n), Path.of("..data").resolve(n));
        }
        return new AgentFiles(volume.resolve("ca.crt"), volume.resolve("tls.crt"), volume.resolve("tls.key"));
    }

    /** kubelet's update: a new timestamped directory, then {@code ..data} swapped to it by renaming a symlink. */
    private static void swapSecretVolume(final Path volume, final EtcdServer.Tls tls, final String version)
        throws IOException {
        final Path v = Files.createDirectories(volume.resolve(version));
        Files.copy(tls.caFile(), v.resolve("ca.crt"));
        Files.copy(tls.clientCert(), v.resolve("tls.crt"));
        Files.copy(tls.clientKey(), v.resolve("tls.key"));
        final Path tmp = volume.resolve("..data_tmp");
        Files.createSymbolicLink(tmp, Path.of(version));
        Files.move(tmp, volume.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
