package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link OverlayMain} as systemd runs it with {@code Type=notify}: a process in a fresh namespace (an underlay
 * {@code eth0} 198.18.0.1/24, one end of a veth pair, and a real etcd on the namespace's loopback) with
 * {@code NOTIFY_SOCKET} naming a datagram socket the test bound, and {@code WATCHDOG_USEC} set. {@code READY=1}
 * arrives only once {@code subnet.env} is written, with the health line as {@code STATUS=}; watchdog pings follow;
 * SIGTERM brings {@code STOPPING=1} and exit 0.
 */
@Privileged
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class SystemdNotifyNamespaceTest {
    private static final String CONFIG = "{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}";
    private static final String ETCD = "http://127.0.0.1:2379";

    @TempDir
    Path dir;

    @Test
    void readyAfterSubnetEnvWatchdogPingsAndStoppingOnSigterm() throws Exception {
        final Path subnetEnv = dir.resolve("run").resolve("subnet.env");
        final Path log = dir.resolve("overlay.log");
        final String socket = dir.resolve("notify").toString();
        try (Netns ns = Netns.create(); NotifySocket notify = NotifySocket.bind(socket)) {
            ns.exec("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
            ns.exec("ip", "addr", "add", "198.18.0.1/24", "dev", "eth0");
            ns.exec("ip", "link", "set", "eth1", "up");
            ns.exec("ip", "link", "set", "eth0", "up");
            ns.spawn(new ProcessBuilder("/usr/bin/etcd", "--name", "sd", "--data-dir", dir.resolve("etcd").toString(),
                "--listen-client-urls", ETCD, "--advertise-client-urls", ETCD,
                "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                "--initial-cluster", "sd=http://127.0.0.1:2380").redirectErrorStream(true)
                .redirectOutput(dir.resolve("etcd.log").toFile()));
            putConfig(ns);

            final ProcessBuilder pb = new ProcessBuilder(java("--etcd-endpoints", ETCD, "--iface", "eth0",
                "--subnet-file", subnetEnv.toString())).redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().put("NOTIFY_SOCKET", socket);
            pb.environment().put("WATCHDOG_USEC", "1000000");
            final Process p = ns.spawn(pb);
            try {
                final List<String> before = new ArrayList<>();
                String ready = null;
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
                while (ready == null && System.nanoTime() - deadline < 0 && p.isAlive()) {
                    final String m = notify.receive(Duration.ofSeconds(1));
                    if (m != null && m.lines().anyMatch("READY=1"::equals)) {
                        ready = m;
                        // the datagram was sent, so whatever preceded it in the launcher has happened
                        assertThat(subnetEnv).as("subnet.env when READY=1 arrived").exists();
                        assertThat(Files.readString(subnetEnv)).contains("FLANNEL_SUBNET=100.64.");
                    } else if (m != null) {
                        before.add(m);
                    }
                }
                assertThat(ready).as("READY=1 within 90 s; log: %s", Files.readString(log)).isNotNull();
                assertThat(ready).matches("(?s).*STATUS=ready flannel\\d+:100\\.64\\.\\d+\\.0/32 subnet:.* mtu:\\d+.*");
                assertThat(before).as("start-up STATUS lines before READY=1")
                    .anyMatch(m -> m.startsWith("STATUS=not-ready"));

                assertThat(notify.await("WATCHDOG=1", Duration.ofSeconds(5))).as("a watchdog ping").isNotNull();
                assertThat(notify.await("WATCHDOG=1", Duration.ofSeconds(5))).as("another ping").isNotNull();

                new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).inheritIO().start().waitFor();
                assertThat(notify.await("STOPPING=1", Duration.ofSeconds(20))).as("STOPPING=1 after SIGTERM; log: %s",
                    Files.readString(log)).isNotNull();
                assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("exits within 20 s").isTrue();
                assertThat(p.exitValue()).as("exit status; log: %s", Files.readString(log)).isZero();
            } finally {
                p.destroyForcibly();
            }
        }
    }

    private static void putConfig(final Netns ns) throws Exception {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                ns.exec("env", "ETCDCTL_API=3", "/usr/bin/etcdctl", "--endpoints", ETCD, "--dial-timeout", "2s",
                    "put", "/coreos.com/network/config", CONFIG);
                return;
            } catch (java.io.IOException e) {
                if (System.nanoTime() - deadline > 0) {
                    throw e;
                }
                Thread.sleep(200);
            }
        }
    }

    private static List<String> java(final String... args) {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isEmpty()) {
            cp = System.getProperty("java.class.path");
        }
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString(), "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp,
            OverlayMain.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }
}
