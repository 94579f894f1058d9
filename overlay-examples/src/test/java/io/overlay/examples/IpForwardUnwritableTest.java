package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * With {@code --bridge} the launcher needs {@code net.ipv4.ip_forward} at 1; when it is 0 and cannot be set (here
 * the sysctl's file bind-mounted read-only in a mount namespace of the launcher's own; not all of {@code /proc/sys},
 * which the TUN set-up writes to as well), it must stay not ready, {@code /readyz} 503 with a reason that names the
 * sysctl and the fix, and turn ready at a re-check once someone else has set it. The mount ends with the process; the
 * sysctl is the host namespace's own.
 */
@Privileged
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class IpForwardUnwritableTest {
    @Test
    void notReadyNamingTheSysctlAndTheFixUntilItIsSet() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-ip-forward-unwritable")) {
            final Netns ns = overlay.underlayHost(1, 1500);
            assertThat(ns.exec("sysctl", "-n", "net.ipv4.ip_forward").strip()).isEqualTo("0");
            final Path subnetEnv = Files.createDirectories(overlay.dir().resolve("h1")).resolve("subnet.env");
            final List<String> cmd = new ArrayList<>(List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
                "set -e; f=/proc/sys/net/ipv4/ip_forward; mount --bind $f $f; mount -o remount,bind,ro $f; exec \"$@\"",
                "sh"));
            cmd.addAll(OverlayHosts.java(OverlayMain.class.getName(), "--etcd-endpoints", OverlayHosts.ETCD,
                "--iface", "eth0", "--bridge", "cbr0", "--subnet-file", subnetEnv.toString(), "--healthz-ip",
                "127.0.0.1", "--healthz-port", Integer.toString(OverlayHosts.HEALTH_PORT)));
            final Path log = overlay.logs().resolve("h1.log");
            final Process p = ns.spawn(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()));
            final OverlayHosts.Host h = new OverlayHosts.Host(1, ns, subnetEnv.getParent(), subnetEnv, p);

            // started: the lease, subnet.env and the bridge are there; only the sysctl is missing
            OverlayHosts.await("the launcher's ready line", java.time.Duration.ofSeconds(60), () -> {
                assertThat(p.isAlive()).as("the launcher runs; log: %s", log).isTrue();
                return Files.readString(log).contains("Running: ");
            });
            final String expected = "not-ready host rules: net.ipv4.ip_forward is 0 and cannot be set";
            assertThat(Files.readString(log)).contains("Running: " + expected);
            assertThat(subnetEnv).exists();
            final String body = readyzBody(ns);
            assertThat(body).as("/readyz").startsWith("503 " + expected)
                .contains("run sysctl -w net.ipv4.ip_forward=1");
            assertThat(ns.exec("sysctl", "-n", "net.ipv4.ip_forward").strip()).isEqualTo("0");

            // an operator (outside the launcher's read-only view) sets it: ready at the next re-check (every 5 s,
            // counted from the end of the last one, which runs nft and iptables-save: two periods on a loaded machine)
            ns.exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
            final long set = System.nanoTime();
            OverlayHosts.await("/readyz 200", java.time.Duration.ofSeconds(20), () -> OverlayHosts.readyz(h) == 200);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - set)).as("within two 5 s re-checks")
                .isLessThan(12_000);
            assertThat(Files.readString(log)).contains("Host rules in place again");
        }
    }

    /** The status code and body of {@code /readyz}, read from inside {@code ns}, e.g. {@code 503 not-ready ...}. */
    private static String readyzBody(final Netns ns) throws Exception {
        return io.overlay.tun.NetnsThread.call(ns.name(), () -> {
            final HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + OverlayHosts.HEALTH_PORT
                + "/readyz").openConnection(java.net.Proxy.NO_PROXY);
            c.setConnectTimeout(1000);
            c.setReadTimeout(5000);
            c.setRequestProperty("Connection", "close");
            try {
                final int code = c.getResponseCode();
                final var in = code == 200 ? c.getInputStream() : c.getErrorStream();
                return code + " " + new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
            } finally {
                c.disconnect();
            }
        });
    }
}
