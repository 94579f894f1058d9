package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A start that ends after the lease was acquired but before {@code subnet.env} was written (here: the TUN name is taken
 * by another device, so the start fails; SIGTERM during the peers' listing does the same) must not leave a lease the
 * next start refuses. The key carries this host's PublicIP and a live etcd lease, and nothing on the host names its
 * subnet, so the takeover check refused every later start with status 1 until the lease expired (24 h), although the
 * operator had fixed the cause.
 */
@Privileged
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class StartEndedBeforeSubnetEnvTest {
    @Test
    void aStartThatFailedAfterAcquiringLeavesNoLeaseTheNextStartRefuses() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-start-ended-before-subnet-env")) {
            final Netns ns = overlay.underlayHost(1, 1500);
            ns.exec("ip", "link", "add", "ovtaken0", "type", "veth", "peer", "name", "ovtaken1");
            final Path subnetEnv = overlay.dir().resolve("h1").resolve("subnet.env");
            final Path log = overlay.logs().resolve("h1.log");
            final Process first = ns.spawn(new ProcessBuilder(command(subnetEnv)).redirectErrorStream(true)
                .redirectOutput(log.toFile()));
            try {
                assertThat(first.waitFor(60, TimeUnit.SECONDS)).as("first start ends").isTrue();
                final String out = Files.readString(log);
                assertThat(first.exitValue()).as("first start fails; log:%n%s", out).isEqualTo(OverlayMain.FAILED);
                assertThat(out).contains("Acquired lease").contains("the name is taken by a veth device");
            } finally {
                first.destroyForcibly();
            }
            assertThat(subnetEnv).doesNotExist();
            final String keys = overlay.etcdctl("get", "--prefix", "/coreos.com/network/subnets", "--keys-only").strip();
            System.out.printf("keys after the failed start: [%s]%n", keys);

            ns.exec("ip", "link", "del", "ovtaken0"); // the operator fixes the cause and starts again
            final Path log2 = overlay.logs().resolve("h1-again.log");
            final Process second = ns.spawn(new ProcessBuilder(command(subnetEnv)).redirectErrorStream(true)
                .redirectOutput(log2.toFile()));
            try {
                OverlayHosts.await("second start writes subnet.env or exits", Duration.ofSeconds(60),
                    () -> Files.exists(subnetEnv) || !second.isAlive());
                assertThat(second.isAlive()).as("second start runs; log:%n%s", Files.readString(log2)).isTrue();
                final String mine = overlay.etcdctl("get", "--prefix", "/coreos.com/network/subnets");
                assertThat(mine).as("one lease, this host's").contains("\"PublicIP\":\"198.18.0.1\"")
                    .contains(HostSubnet.read(subnetEnv).subnet().toString().replace('/', '-'));
                assertThat(mine.lines().filter(l -> l.startsWith("/coreos.com/")).count()).isEqualTo(1);
            } finally {
                second.destroy();
                second.waitFor(20, TimeUnit.SECONDS);
                second.destroyForcibly();
            }
        }
    }

    private static java.util.List<String> command(final Path subnetEnv) {
        return OverlayHosts.java(OverlayMain.class.getName(), "--etcd-endpoints", OverlayHosts.ETCD, "--iface", "eth0",
            "--tun-name", "ovtaken0", "--subnet-file", subnetEnv.toString());
    }
}
