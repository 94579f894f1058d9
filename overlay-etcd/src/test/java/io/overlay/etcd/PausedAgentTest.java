package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * B5/B10 of flannel's failure list with a paused agent: the agent's process is stopped (SIGSTOP, as a long GC pause or
 * a suspended VM stops it) for longer than its etcd lease TTL, its key expires, and another host acquires the same
 * subnet meanwhile. Resumed (SIGCONT), the agent must notice within a bounded time, never write the other host's key,
 * stop claiming the subnet, re-acquire another one and report the change; the other host must not notice anything but
 * a new peer.
 */
class PausedAgentTest extends EtcdTestSupport {
    private static final String A_SUBNET = "100.64.1.0/24";

    private static List<String> java(final String... args) {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isEmpty()) {
            cp = System.getProperty("java.class.path");
        }
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString(), "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp,
            PausedAgentMain.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static void signal(final Process p, final String sig) throws Exception {
        final Process kill = new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).inheritIO().start();
        assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(kill.exitValue()).as("kill -%s %d", sig, p.pid()).isZero();
    }

    private static List<String> events(final Path log) throws IOException {
        return Files.readAllLines(log).stream().filter(l -> l.startsWith("EVENT ")).map(l -> l.substring(6))
            .collect(Collectors.toList());
    }

    @Test
    void pausedPastItsTtlTheAgentMovesAsideForTheNewHolder(@TempDir final Path dir) throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final Path log = dir.resolve("agent-a.log");
        // TTL 4 s (etcd's minimum is about 2 s), renewal every 2 s
        final Process a = new ProcessBuilder(java(etcd.endpoint(), prefix, "198.18.0.1", A_SUBNET, "4", "2"))
            .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> events(log).contains("renewed " + A_SUBNET));
            final String key = subnetKey("100.64.1.0-24");
            assertThat(get(key).text()).contains("198.18.0.1");

            signal(a, "STOP");
            final long stopped = System.nanoTime();
            // etcd expires the key of the paused agent after its TTL
            await().atMost(Duration.ofSeconds(15)).until(() -> get(key) == null);
            final EtcdSubnetAllocator b = allocator(settings().leaseTtl(Duration.ofSeconds(60))
                .renewMargin(Duration.ofSeconds(30)).build());
            final Lease bLease = b.acquire(ip("198.18.0.2"), Optional.of(Ipv4Prefix.parse(A_SUBNET)));
            assertThat(bLease.subnet()).isEqualTo(Ipv4Prefix.parse(A_SUBNET));
            final RecordingListener bEvents = new RecordingListener();
            b.start(bLease, bEvents);
            final KeyState bKey = get(key);
            final long pausedMs = (System.nanoTime() - stopped) / 1_000_000;

            signal(a, "CONT");
            final long resumed = System.nanoTime();
            await().atMost(Duration.ofSeconds(15)).until(() -> events(log).stream()
                .anyMatch(e -> e.startsWith("reacquired ")));
            final long noticedMs = (System.nanoTime() - resumed) / 1_000_000;
            final List<String> after = events(log);
            final String reacquired = after.stream().filter(e -> e.startsWith("reacquired ")).findFirst().get();
            final Ipv4Prefix newSubnet = Ipv4Prefix.parse(reacquired.substring(reacquired.lastIndexOf(' ') + 1));
            System.out.printf("paused %d ms (TTL 4 s); lost and re-acquired %s %d ms after SIGCONT; events %s%n",
                pausedMs, newSubnet, noticedMs, after);
            assertThat(after).contains("lost " + A_SUBNET);
            assertThat(after.indexOf("lost " + A_SUBNET)).isLessThan(after.indexOf(reacquired));
            assertThat(newSubnet).as("another subnet: B holds %s", A_SUBNET).isNotEqualTo(Ipv4Prefix.parse(A_SUBNET));
            await().atMost(Duration.ofSeconds(10)).until(() -> events(log).contains("added " + A_SUBNET
                + " {\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}"));

            // two more renewals of A's new lease; B's key untouched all along, B lost nothing and sees A as a peer
            await().atMost(Duration.ofSeconds(15)).until(() -> events(log).stream()
                .filter(e -> e.equals("renewed " + newSubnet)).count() >= 2);
            assertThat(get(key)).as("B's key, byte for byte, same etcd lease and revision")
                .usingRecursiveComparison().isEqualTo(bKey);
            assertThat(get(subnetKey(newSubnet.toString().replace('/', '-'))).text()).contains("198.18.0.1");
            assertThat(bEvents.matching("lost")).isEmpty();
            assertThat(bEvents.peers).containsOnlyKeys(newSubnet);
            assertThat(events(log).stream().filter(e -> e.startsWith("reacquired ") || e.startsWith("lost ")))
                .as("A lost and re-acquired once, and never claims %s again", A_SUBNET)
                .containsExactly("lost " + A_SUBNET, reacquired);
        } finally {
            a.destroyForcibly();
            a.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
