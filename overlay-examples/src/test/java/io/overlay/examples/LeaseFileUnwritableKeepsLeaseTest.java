package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code subnet.env} is written (its tmpfs, here a plain directory, is fine) but the lease file is not (its file system,
 * {@code /var/lib/overlay} in the package, is read-only: an 8 KiB tmpfs remounted read-only in a mount namespace of the
 * launcher's own). The start fails with status 1, and {@code subnet.env} now names the new subnet: that lease is the
 * host's recorded one and must stay in etcd. Closing the failed start gave it back, leaving {@code subnet.env} naming a
 * subnet with no key, free for any other host, while a consumer could already use it.
 */
@Privileged
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LeaseFileUnwritableKeepsLeaseTest {
    @Test
    void aSubnetEnvWrittenBeforeTheLeaseFileFailedKeepsItsLease() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-lease-file-unwritable")) {
            final Netns ns = overlay.underlayHost(1, 1500);
            final Path run = Files.createDirectories(overlay.dir().resolve("run"));
            final Path subnetEnv = run.resolve("subnet.env");
            final Path varLib = Files.createDirectories(overlay.dir().resolve("varlib"));
            final Path leaseFile = varLib.resolve("lease.env");
            final List<String> cmd = new ArrayList<>(List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
                "d=$1; shift; set -e; mount -t tmpfs -o size=8k,mode=0755,ro overlay-test \"$d\"; set +e; \"$@\"",
                "sh", varLib.toString()));
            cmd.addAll(OverlayHosts.java(OverlayMain.class.getName(), "--etcd-endpoints", OverlayHosts.ETCD,
                "--iface", "eth0", "--subnet-file", subnetEnv.toString(), "--lease-file", leaseFile.toString()));
            final Path log = overlay.logs().resolve("h1.log");
            final Process p = ns.spawn(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()));
            try {
                assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the launcher exits within 60 s").isTrue();
            } finally {
                p.destroyForcibly();
            }
            final String out = Files.readString(log);
            assertThat(p.exitValue()).as("exit status; log:%n%s", out).isEqualTo(OverlayMain.FAILED);
            assertThat(out).as("log").contains("Read-only file system").contains(leaseFile.toString());
            assertThat(subnetEnv).as("subnet.env was written before the lease file failed").exists();
            final String subnet = HostSubnet.read(subnetEnv).subnet().toString();
            final String keys = overlay.etcdctl("get", "--prefix", "/coreos.com/network/subnets");
            System.out.printf("subnet.env names %s; keys: [%s]; released: %b%n", subnet, keys.strip(),
                out.contains("Released lease"));
            assertThat(keys).as("the lease subnet.env names is kept; log:%n%s", out)
                .contains("/coreos.com/network/subnets/" + subnet.replace('/', '-'))
                .contains("\"PublicIP\":\"198.18.0.1\"");
        }
    }
}
