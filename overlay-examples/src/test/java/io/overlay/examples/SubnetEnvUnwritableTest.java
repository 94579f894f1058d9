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

/**
 * {@code subnet.env}'s file system is full or read-only (a 8 KiB tmpfs mounted over its directory in a mount namespace
 * of the launcher's own, holding the {@code subnet.env} of an earlier run; {@code full}: the rest filled up,
 * {@code ro}: remounted read-only; the mount ends with the process). The launcher must exit 1 with an error naming the
 * file and the cause, never answer {@code /readyz} 200, and leave the earlier {@code subnet.env} whole with no
 * temporary file beside it, and no TUN. A supervisor's restart ({@code Restart=on-failure}) is what retries.
 */
@Privileged
@org.junit.jupiter.api.Timeout(value = 120, unit = TimeUnit.SECONDS)
class SubnetEnvUnwritableTest {
    private static final String EARLIER = "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.9.1/24\n"
        + "FLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n";

    @ParameterizedTest
    @ValueSource(strings = {"full", "ro"})
    void theLauncherExits1NamingTheFileAndLeavesTheEarlierOneWhole(final String how) throws Exception {
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-subnet-env-" + how)) {
            final Netns ns = overlay.underlayHost(1, 1500);
            final Path run = Files.createDirectories(overlay.dir().resolve("run"));
            final Path subnetEnv = run.resolve("subnet.env");
            final Path earlier = overlay.dir().resolve("earlier.env");
            Files.writeString(earlier, EARLIER);
            final List<String> java = OverlayHosts.java(OverlayMain.class.getName(), "--etcd-endpoints",
                OverlayHosts.ETCD, "--iface", "eth0", "--subnet-file", subnetEnv.toString(), "--healthz-ip",
                "127.0.0.1", "--healthz-port", Integer.toString(OverlayHosts.HEALTH_PORT));
            final List<String> cmd = new ArrayList<>(List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
                "d=$1; e=$2; shift 2; set -e; mount -t tmpfs -o size=8k,mode=0755 overlay-test \"$d\"; "
                    + "cp \"$e\" \"$d\"/subnet.env; "
                    + (how.equals("full") ? "head -c 1M /dev/zero > \"$d\"/fill 2>/dev/null || true; "
                        : "mount -o remount,ro \"$d\"; ")
                    + "set +e; \"$@\"; rc=$?; echo \"== exit $rc\"; echo \"== files\"; ls -A \"$d\"; "
                    + "echo \"== subnet.env\"; cat \"$d\"/subnet.env; exit $rc",
                "sh", run.toString(), earlier.toString()));
            cmd.addAll(java);
            final Path log = overlay.logs().resolve("h1.log");
            final long t0 = System.nanoTime();
            final Process p = ns.spawn(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()));
            final OverlayHosts.Host h = new OverlayHosts.Host(1, ns, run, subnetEnv, p);
            int ready = 0;
            while (p.isAlive() && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(60)) {
                if (OverlayHosts.readyz(h) == 200) {
                    ready++;
                }
                Thread.sleep(100);
            }
            assertThat(p.waitFor(5, TimeUnit.SECONDS)).as("the launcher exits within 60 s").isTrue();
            final String out = Files.readString(log);
            System.out.printf("subnet.env %s: exit %d after %d ms%n", how, p.exitValue(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            assertThat(p.exitValue()).as("exit status; log:%n%s", out).isEqualTo(OverlayMain.FAILED);
            assertThat(ready).as("/readyz answered 200 %d times", ready).isZero();
            final String cause = how.equals("full") ? "No space left on device" : "Read-only file system";
            assertThat(out.lines().filter(l -> l.contains(" ERROR ")).toList()).as("the error names the file and "
                + "the cause; log:%n%s", out).anyMatch(l -> l.contains(subnetEnv.toString()) && l.contains(cause));
            final String files = out.substring(out.indexOf("== files") + 9, out.indexOf("== subnet.env"));
            assertThat(files.strip().lines().filter(f -> !f.equals("fill") && !f.endsWith(".lock")))
                .as("no temporary file left").containsExactly("subnet.env");
            assertThat(out.substring(out.indexOf("== subnet.env") + 14)).as("the earlier subnet.env, whole")
                .isEqualTo(EARLIER);
            assertThat(ns.exec("ip", "-o", "link", "show", "type", "tun")).as("no TUN left").isEmpty();
        }
    }
}
