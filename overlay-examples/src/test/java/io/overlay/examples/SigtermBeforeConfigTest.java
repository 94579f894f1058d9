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
 * SIGTERM while the launcher waits for the network config (etcd reachable, {@code <prefix>/config} absent; the signal
 * test covers an unreachable etcd): exit 0 with "Exiting cleanly" and nothing left behind: no subnet key in etcd, no
 * TUN, no host rules, no {@code subnet.env}.
 */
@Privileged
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class SigtermBeforeConfigTest {
    @Test
    void sigtermWhileWaitingForTheConfigExits0AndLeavesNothing() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-sigterm-before-config")) {
            overlay.etcdctl("del", "/coreos.com/network/config");
            final Netns ns = overlay.underlayHost(1, 1500);
            final String rulesBefore = ns.exec("nft", "-s", "list", "ruleset");
            final Path subnetEnv = overlay.dir().resolve("h1").resolve("subnet.env");
            final Path log = overlay.logs().resolve("h1.log");
            final Process p = ns.spawn(new ProcessBuilder(OverlayHosts.java(OverlayMain.class.getName(),
                "--etcd-endpoints", OverlayHosts.ETCD, "--iface", "eth0", "--subnet-file", subnetEnv.toString(),
                "--ip-masq", "--healthz-ip", "127.0.0.1", "--healthz-port", Integer.toString(OverlayHosts.HEALTH_PORT)))
                .redirectErrorStream(true).redirectOutput(log.toFile()));
            final OverlayHosts.Host h = new OverlayHosts.Host(1, ns, subnetEnv.getParent(), subnetEnv, p);
            OverlayHosts.await("waiting for the network config", Duration.ofSeconds(30), () -> !p.isAlive()
                || "not-ready waiting for the network config".equals(healthLine(h)));
            Thread.sleep(500);
            assertThat(p.isAlive()).as("still waiting; log:%n%s", Files.readString(log)).isTrue();

            final long t0 = System.nanoTime();
            p.destroy(); // SIGTERM
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("exits within 20 s of SIGTERM").isTrue();
            System.out.printf("exited %d ms after SIGTERM%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            final String out = Files.readString(log);
            assertThat(p.exitValue()).as("exit status; log:%n%s", out).isZero();
            assertThat(out).contains("SIGTERM received").contains("Exiting cleanly").doesNotContain(" ERROR ");
            assertThat(overlay.etcdctl("get", "--prefix", "/coreos.com/network/subnets", "--keys-only").strip())
                .as("no lease written").isEmpty();
            assertThat(ns.exec("ip", "-o", "link", "show", "type", "tun")).as("no TUN").isEmpty();
            assertThat(ns.exec("nft", "-s", "list", "ruleset")).as("no host rules").isEqualTo(rulesBefore);
            assertThat(subnetEnv).doesNotExist();
        }
    }

    /** The health line, /readyz's body (200 or 503); {@code null} while the server does not answer. */
    private static String healthLine(final OverlayHosts.Host h) throws Exception {
        return io.overlay.tun.NetnsThread.call(h.ns().name(), () -> {
            final java.net.HttpURLConnection c = (java.net.HttpURLConnection) new java.net.URL("http://127.0.0.1:"
                + OverlayHosts.HEALTH_PORT + "/readyz").openConnection(java.net.Proxy.NO_PROXY);
            c.setConnectTimeout(1000);
            c.setReadTimeout(2000);
            c.setRequestProperty("Connection", "close");
            try {
                final java.io.InputStream in = c.getResponseCode() == 200 ? c.getInputStream() : c.getErrorStream();
                return in == null ? null : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8)
                    .strip();
            } catch (java.io.IOException notYet) {
                return null;
            } finally {
                c.disconnect();
            }
        });
    }
}
