package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * An operator starts the agent by hand on a host where the service already runs it (the same network namespace,
 * the same options, the default {@code --healthz-port 0}, so no health port clash stops it first). The second agent
 * must fail fast with exit status 1 and a message that says why, and leave the running one alone: its etcd key on the
 * same etcd lease, its {@code subnet.env}, its TUN, routes and links, its host rules, its readiness and its traffic.
 * Then a second agent with its own {@code subnet.env} (nothing to reuse) on the same UDP port: the same.
 */
@Privileged
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SecondAgentOnOneHostTest {
    private static final Pattern LEASE = Pattern.compile("\"lease\":(\\d+)");

    @Test
    void aSecondAgentOnTheSameHostExits1AndLeavesTheRunningOneAlone() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.start("e2e-second-agent", 2)) {
            final OverlayHosts.Host h1 = overlay.hosts().get(0);
            final OverlayHosts.Host h2 = overlay.hosts().get(1);
            final String peer = OverlayHosts.tunAddress(h2);
            OverlayHosts.awaitSuccess("h1 reaches h2's TUN", Duration.ofSeconds(20), List.of("ip", "netns", "exec",
                h1.ns().name(), "ping", "-c", "1", "-W", "1", "-q", peer));
            final HostState before = HostState.of(overlay, h1);

            final Path sameFile = h1.subnetEnv();
            final Path ownFile = h1.dir().resolve("second").resolve("subnet.env");
            for (Path subnetFile : List.of(sameFile, ownFile)) {
                final Path log = overlay.logs().resolve("h1-second-" + subnetFile.getParent().getFileName() + ".log");
                Files.deleteIfExists(log);
                final long t0 = System.nanoTime();
                final Process second = h1.ns().spawn(new ProcessBuilder(OverlayHosts.java(OverlayMain.class.getName(),
                    "--etcd-endpoints", OverlayHosts.ETCD, "--iface", "eth0", "--subnet-file", subnetFile.toString()))
                    .redirectErrorStream(true).redirectOutput(log.toFile()));
                try {
                    assertThat(second.waitFor(30, TimeUnit.SECONDS)).as("the second agent (%s) exits within 30 s; "
                        + "log: %s", subnetFile, log).isTrue();
                } finally {
                    second.destroyForcibly();
                }
                final String out = Files.readString(log);
                System.out.printf("second agent (%s) exited %d after %d ms%n", subnetFile, second.exitValue(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
                assertThat(second.exitValue()).as("exit status; log:%n%s", out).isEqualTo(OverlayMain.FAILED);
                assertThat(out).as("says why").containsPattern("(?i)already|in use");

                final HostState after = HostState.of(overlay, h1);
                assertThat(after).as("h1 after the second agent (%s) exited", subnetFile).isEqualTo(before);
                assertThat(Files.exists(ownFile)).as("the refused agent wrote no subnet.env").isFalse();
                assertThat(OverlayHosts.readyz(h1)).isEqualTo(200);
                h1.ns().exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "-q", peer);
                assertThat(Files.readString(overlay.logs().resolve("h1.log")))
                    .as("the running agent saw nothing of it").doesNotContain("re-put by someone else")
                    .doesNotContain("lost");
            }

            // A SIGTERM while the second agent waits for the lock (a stop during a restart) ends it cleanly.
            final Path log = overlay.logs().resolve("h1-second-term.log");
            Files.deleteIfExists(log);
            final Process third = h1.ns().spawn(new ProcessBuilder(OverlayHosts.java(OverlayMain.class.getName(),
                "--etcd-endpoints", OverlayHosts.ETCD, "--iface", "eth0", "--subnet-file", sameFile.toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()));
            try {
                OverlayHosts.await("the third agent waits for the lock", Duration.ofSeconds(20),
                    () -> Files.readString(log).contains("Waiting up to") || !third.isAlive());
                third.destroy(); // SIGTERM
                assertThat(third.waitFor(10, TimeUnit.SECONDS)).as("exits within 10 s of SIGTERM").isTrue();
            } finally {
                third.destroyForcibly();
            }
            assertThat(third.exitValue()).as("exit status; log:%n%s", Files.readString(log)).isZero();
            assertThat(Files.readString(log)).contains("SIGTERM received").contains("Exiting cleanly");
            assertThat(HostState.of(overlay, h1)).isEqualTo(before);
        }
    }

    /** What a second agent must not change on the host of the first one, and in etcd. */
    private record HostState(String subnetEnv, String key, long etcdLease, String links, String addresses,
                             String routes, String hostRules) {
        static HostState of(final OverlayHosts overlay, final OverlayHosts.Host h) throws Exception {
            final String env = Files.readString(h.subnetEnv());
            final String key = "/coreos.com/network/subnets/" + h.subnet().subnet().toString().replace('/', '-');
            final Matcher m = LEASE.matcher(overlay.etcdctl("get", key, "-w", "json"));
            final long lease = m.find() ? Long.parseLong(m.group(1)) : -1;
            final List<String> links = new ArrayList<>();
            for (String line : h.ns().exec("ip", "-o", "link", "show").lines().toList()) {
                links.add(line.replaceAll("\\\\.*", "")); // name, flags, MTU; not the counters
            }
            return new HostState(env, overlay.etcdctl("get", key, "--print-value-only").strip(), lease,
                String.join("\n", links), h.ns().exec("ip", "-4", "-o", "addr", "show"),
                h.ns().exec("ip", "-4", "route", "show", "table", "all"),
                h.ns().exec("nft", "-s", "list", "ruleset")); // stateless: without counters
        }
    }
}
