package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * {@link StaticPeersMain} as the bench harness runs it ({@code docs/performance.md#the-harness-command-line}), one
 * process per namespace host: A with {@code --tun-setup agent} (creates and configures flannel0), B with
 * {@code --tun-setup harness} on a multi-queue TUN the test made with {@code ip tuntap add ... multi_queue}, served by
 * 2 loops. Underlay 198.18.0.1/24 ↔ 198.18.0.2/24, overlay 100.64.0.0/16. Logs go to {@code target/static-peers/}.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class StaticPeersMainTest {
    private final Path logs = Path.of("target", "static-peers").toAbsolutePath();
    private Netns nsA;
    private Netns nsB;

    @BeforeAll
    void setUp() throws IOException {
        Files.createDirectories(logs);
        nsA = Netns.create();
        nsB = Netns.create();
        Netns.link(nsA, "ul0", "198.18.0.1/24", nsB, "ul0", "198.18.0.2/24", 1500);
        nsB.exec("ip", "tuntap", "add", "dev", "flannel0", "mode", "tun", "multi_queue");
        nsB.exec("ip", "link", "set", "flannel0", "mtu", "1472");
        nsB.exec("ip", "addr", "add", "100.64.2.1/16", "dev", "flannel0");
        nsB.exec("ip", "link", "set", "flannel0", "up");
    }

    @AfterAll
    void tearDown() {
        for (Netns ns : new Netns[] {nsA, nsB}) {
            if (ns != null) {
                ns.close();
            }
        }
    }

    @Test
    void agentAndHarnessModesForwardBothWaysAndPrintCountersOnSigterm() throws Exception {
        final Process a = nsA.spawn(java("--tun", "flannel0", "--tun-setup", "agent", "--listen", "198.18.0.1:8285",
            "--network", "100.64.0.0/16", "--subnet", "100.64.1.0/24", "--address", "100.64.1.1", "--mtu", "1472",
            "--peers", "100.64.2.0/24=198.18.0.2:8285").redirectErrorStream(true)
            .redirectOutput(logs.resolve("a.log").toFile()));
        final Process b = nsB.spawn(java("--tun", "flannel0", "--tun-setup", "harness", "--loops", "2",
            "--listen", "198.18.0.2:8285", "--network", "100.64.0.0/16", "--subnet", "100.64.2.0/24",
            "--mtu", "1472", "--tun-txqueuelen", "3333", "--peers", "100.64.1.0/24=198.18.0.1:8285")
            .redirectErrorStream(true)
            .redirectOutput(logs.resolve("b.log").toFile()));
        // A deadline, not a count of tries: ping fails at once ("Network is unreachable") until the agent has
        // configured its TUN, and a loaded machine may take seconds to start two JVMs.
        boolean up = false;
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!up && a.isAlive() && b.isAlive() && System.nanoTime() < deadline) {
            up = shell(nsA, "ping -c 1 -W 1 100.64.2.1").contains("1 received");
            if (!up) {
                Thread.sleep(200);
            }
        }
        assertThat(up).as("ping over the overlay within 60 s; logs in %s", logs).isTrue();
        assertThat(shell(nsA, "ping -c 3 -i 0.2 -W 2 -I 100.64.1.1 100.64.2.1")).contains("3 received");
        assertThat(shell(nsB, "ping -c 3 -i 0.2 -W 2 -I 100.64.2.1 100.64.1.1")).contains("3 received");
        assertThat(shell(nsA, "ping -M do -s 1444 -c 1 -W 2 100.64.2.1")).contains("1 received");
        // the TUN's transmit queue: the default in agent mode, --tun-txqueuelen in harness mode, which changes
        // nothing else of the harness' device
        assertThat(nsA.exec("ip", "-j", "link", "show", "dev", "flannel0")).contains("\"txqlen\":2000");
        final String linkB = nsB.exec("ip", "-j", "link", "show", "dev", "flannel0");
        assertThat(linkB).contains("\"txqlen\":3333").contains("\"mtu\":1472");
        assertThat(nsB.exec("ip", "-4", "-o", "addr", "show", "dev", "flannel0")).contains("inet 100.64.2.1/16 ");

        for (Process p : List.of(a, b)) {
            p.destroy(); // SIGTERM to the JVM (ip netns exec execs it)
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isEqualTo(143);
        }
        final String logA = Files.readString(logs.resolve("a.log"));
        final String logB = Files.readString(logs.resolve("b.log"));
        assertThat(logA).contains("forwarding: TUN flannel0 (agent, 1 queue(s)").containsPattern("stopped; tun->udp [1-9]");
        assertThat(logB).contains("forwarding: TUN flannel0 (harness, 2 queue(s)").contains("txqueuelen 3333")
            .containsPattern("udp->tun [1-9]");
        // agent mode: the device is gone with the process; harness mode: the persistent device stays.
        assertThat(shell(nsA, "ip link show flannel0")).doesNotContain("rc=0");
        assertThat(shell(nsB, "ip link show flannel0")).contains("rc=0");
    }

    @Test
    void encryptedAgentsDeriveEachOthersKeysFromTheSeedAndForward() throws Exception {
        final List<Process> agents = new ArrayList<>();
        try {
            for (int h = 1; h <= 2; h++) {
                final Netns ns = h == 1 ? nsA : nsB;
                // another /16 than the harness-mode device of setUp, whose route covers 100.64.0.0/16
                agents.add(ns.spawn(java("--tun", "ovlenc0", "--listen", "198.18.0." + h + ":8286", "--network",
                    "100.65.0.0/16", "--subnet", "100.65." + h + ".0/24", "--mtu", "1472", "--encryption",
                    "required", "--static-key-seed", "test-seed", "--peers",
                    "100.65." + (3 - h) + ".0/24=198.18.0." + (3 - h) + ":8286").redirectErrorStream(true)
                    .redirectOutput(logs.resolve("enc-" + h + ".log").toFile())));
            }
            boolean up = false;
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!up && System.nanoTime() < deadline) {
                up = shell(nsA, "ping -c 1 -W 1 100.65.2.0").contains("1 received");
                if (!up) {
                    Thread.sleep(200);
                }
            }
            assertThat(up).as("sealed ping within 60 s; logs in %s", logs).isTrue();
            assertThat(nsA.exec("ip", "-j", "link", "show", "dev", "ovlenc0")).contains("\"mtu\":1443");
            for (Process p : agents) {
                p.destroy();
                assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
            }
            // this JVM runs without --add-opens: the Cipher API fallback, end to end
            final String log = Files.readString(logs.resolve("enc-1.log"));
            assertThat(log).contains("encryption required").contains("AES-256-GCM through the JDK Cipher API")
                .contains("WARN").contains("benchmarks only: nonces repeat across restarts")
                .containsPattern("stopped; tun->udp [1-9]").doesNotContain("PEER_HAS_NO_KEY");
        } finally {
            for (Process p : agents) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void badArgumentsExitWith2AndABindFailureWith1NamingTheAddress() throws Exception {
        final String noSeed = run(nsA, "--listen", "198.18.0.1:8285", "--network", "100.64.0.0/16", "--subnet",
            "100.64.1.0/24", "--encryption", "required");
        assertThat(noSeed).contains("--encryption required needs --static-key-seed").endsWith("rc=2\n");
        final String badMode = run(nsA, "--listen", "198.18.0.1:8285", "--network", "100.64.0.0/16", "--subnet",
            "100.64.1.0/24", "--encryption", "on");
        assertThat(badMode).contains("encryption must be off, preferred or required, got 'on'").endsWith("rc=2\n");
        final String bad = run(nsA, "--listen", "198.18.0.1", "--network", "100.64.0.0/16", "--subnet",
            "100.64.1.0/24");
        assertThat(bad).contains("--listen must be ip:port").endsWith("rc=2\n");
        final String peers = run(nsA, "--listen", "198.18.0.1:8285", "--network", "100.64.0.0/16", "--subnet",
            "100.64.1.0/24", "--peers", "100.64.2.0/24=198.18.0.2");
        assertThat(peers).contains("bad peer entry").endsWith("rc=2\n");
        final String queue = run(nsA, "--listen", "198.18.0.1:8285", "--network", "100.64.0.0/16", "--subnet",
            "100.64.1.0/24", "--tun-txqueuelen", "-1");
        assertThat(queue).contains("--tun-txqueuelen must be 1..1000000 packets").endsWith("rc=2\n");
        final String bind = run(nsA, "--tun", "ovlbind0", "--listen", "198.18.9.9:8285", "--network",
            "100.64.0.0/16", "--subnet", "100.64.1.0/24");
        assertThat(bind).contains("cannot bind the UDP socket to 198.18.9.9:8285").endsWith("rc=1\n");
        assertThat(shell(nsA, "ip link show ovlbind0")).doesNotContain("rc=0"); // TUN closed on failure
    }

    private ProcessBuilder java(final String... args) {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isEmpty()) {
            cp = System.getProperty("java.class.path");
        }
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString(), "-cp", cp, StaticPeersMain.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd);
    }

    /** Runs StaticPeersMain to completion in {@code ns}; returns output and "rc=N". */
    private String run(final Netns ns, final String... args) throws Exception {
        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns.name()));
        cmd.addAll(java(args).command());
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return out + "rc=" + p.exitValue() + "\n";
    }

    private static String shell(final Netns ns, final String command) throws IOException {
        return Netns.run("ip", "netns", "exec", ns.name(), "sh", "-c", command + " 2>&1; echo rc=$?");
    }
}
