package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;

/**
 * One of the host's files cannot be written: an 8 KiB tmpfs over its directory, in a mount namespace of the launcher's
 * own, is read-only or full. {@code lease-file} (read-only): {@code subnet.env} is written but the lease
 * file is not ({@code /var/lib/overlay} in the package); the start fails with status 1 and {@code subnet.env} now names
 * the new subnet, so that lease is the host's recorded one and must stay in etcd (closing the failed start gave it
 * back, leaving {@code subnet.env} naming a subnet with no key, free for any other host, while a consumer could already
 * use it). {@code subnet-env} (full, as a read-only one would refuse the instance lock): nothing names the new
 * subnet, so the lease is given back, or the next start would refuse it as another host's until it expired.
 */
@Privileged
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class UnwritableHostFileLeaseTest {
    @ParameterizedTest
    @ValueSource(strings = {"lease-file", "subnet-env"})
    void aLeaseIsKeptExactlyWhenAFileNamesIt(final String readOnly) throws Exception {
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-unwritable-" + readOnly)) {
            final Netns ns = overlay.underlayHost(1, 1500);
            final Path run = Files.createDirectories(overlay.dir().resolve("run"));
            final Path subnetEnv = run.resolve("subnet.env");
            final Path varLib = Files.createDirectories(overlay.dir().resolve("varlib"));
            final Path leaseFile = varLib.resolve("lease.env");
            final boolean leaseFileFails = readOnly.equals("lease-file");
            final Path roDir = leaseFileFails ? varLib : run;
            final List<String> cmd = new ArrayList<>(List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
                "d=$1; shift; set -e; mount -t tmpfs -o size=8k,mode=0755 overlay-test \"$d\"; "
                    + (leaseFileFails ? "mount -o remount,ro \"$d\"; "
                        : "head -c 1M /dev/zero > \"$d\"/fill 2>/dev/null || true; ")
                    + "set +e; \"$@\"",
                "sh", roDir.toString()));
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
            assertThat(out).as("log").contains("Acquired lease")
                .contains(leaseFileFails ? "Read-only file system" : "No space left on device")
                .contains((leaseFileFails ? leaseFile : subnetEnv).toString());
            final String keys = overlay.etcdctl("get", "--prefix", "/coreos.com/network/subnets");
            System.out.printf("%s unwritable: subnet.env %s; keys: [%s]; released: %b%n", readOnly,
                leaseFileFails ? HostSubnet.read(subnetEnv).subnet() : "-", keys.strip(),
                out.contains("Released lease"));
            if (leaseFileFails) {
                final String subnet = HostSubnet.read(subnetEnv).subnet().toString();
                assertThat(keys).as("the lease subnet.env names is kept; log:%n%s", out)
                    .contains("/coreos.com/network/subnets/" + subnet.replace('/', '-'))
                    .contains("\"PublicIP\":\"198.18.0.1\"");
            } else {
                assertThat(leaseFile).as("no lease file").doesNotExist();
                assertThat(keys.strip()).as("the lease no file names is given back; log:%n%s", out).isEmpty();
            }
        }
    }
}
