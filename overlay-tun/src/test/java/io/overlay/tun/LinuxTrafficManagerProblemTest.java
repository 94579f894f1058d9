package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TrafficManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link LinuxTrafficManager}'s readiness and tool checks without root: a stand-in {@code nft} script (never the real
 * one, so no firewall is touched) fails, then works; a missing {@code nft} is refused up front.
 */
class LinuxTrafficManagerProblemTest {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");
    private static final Ipv4Prefix SUBNET = Ipv4Prefix.parse("100.64.5.0/24");

    @TempDir
    Path dir;

    private Path fakeNft(final String body) throws Exception {
        final Path nft = dir.resolve("nft");
        Files.writeString(nft, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(nft, PosixFilePermissions.fromString("rwx------"));
        return nft;
    }

    @Test
    void aFailingNftKeepsItNotReadyWithTheToolsMessageUntilARecheckSucceeds() throws Exception {
        final Path nft = fakeNft("cat >/dev/null; echo 'Error: Could not process rule: Operation not supported' >&2;"
            + " exit 1");
        final LinuxTrafficManager m = new LinuxTrafficManager(new LinuxTrafficManager.Settings(true, true, false,
            false, Duration.ofSeconds(1)), Executors.defaultThreadFactory(),
            name -> name.equals("nft") ? Optional.of(nft) : Optional.empty());
        try {
            assertThat(m.problem()).contains(TrafficManager.INSTALLING);
            m.apply(NETWORK, SUBNET);
            await(() -> m.problem().filter(p -> !p.equals(TrafficManager.INSTALLING)).isPresent());
            assertThat(m.problem().get()).startsWith("host rules: " + nft + " -f - failed (exit 1): ")
                .endsWith("Error: Could not process rule: Operation not supported");

            fakeNft("if [ \"$1\" = list ]; then echo 'table ip overlay { }'; else cat >/dev/null; fi");
            await(() -> m.problem().isEmpty());
        } finally {
            m.close();
        }
    }

    @Test
    void closeFromAnInterruptedThreadStillRemovesTheRulesAndKeepsTheInterrupt() throws Exception {
        final Path calls = dir.resolve("calls");
        final Path nft = fakeNft("echo \"$*\" >> " + calls + "; if [ \"$1\" = list ]; then echo 'table ip overlay { }';"
            + " else cat >/dev/null; fi");
        final LinuxTrafficManager m = new LinuxTrafficManager(new LinuxTrafficManager.Settings(true, true, false,
            false, Duration.ofSeconds(60)), Executors.defaultThreadFactory(),
            name -> name.equals("nft") ? Optional.of(nft) : Optional.empty());
        m.apply(NETWORK, SUBNET);
        await(() -> m.problem().isEmpty());
        Thread.currentThread().interrupt(); // as a shutdown signal interrupts the launcher's main thread
        m.close();
        assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();
        assertThat(Files.readAllLines(calls)).containsExactly("-f -", "list table ip overlay", "-f -");
    }

    @Test
    void ipMasqWithoutNftIsRefusedNamingThePackageAndTheOption() {
        assertThatThrownBy(() -> new LinuxTrafficManager(new LinuxTrafficManager.Settings(true, true, false, false,
            Duration.ofSeconds(5)), Executors.defaultThreadFactory(), name -> Optional.empty()))
            .isInstanceOf(IllegalStateException.class)
            .hasMessage("--ip-masq needs the nft program, which is not installed: install it (apt install nftables) "
                + "or drop --ip-masq");
        // forward rules without iptables only warn: without iptables there is no iptables DROP policy to undo
        final LinuxTrafficManager m = new LinuxTrafficManager(new LinuxTrafficManager.Settings(false, true, true,
            false, Duration.ofSeconds(5)), Executors.defaultThreadFactory(), name -> Optional.empty());
        m.close();
    }

    @Test
    void theScriptReplacesTheWholeTableInOneTransaction() {
        final String script = new NftMasqueradeRules(Path.of("/usr/sbin/nft"), false).script(NETWORK, SUBNET);
        assertThat(script).startsWith("table ip overlay\ndelete table ip overlay\ntable ip overlay {\n")
            .contains("\t\tip saddr 100.64.0.0/16 ip daddr != 224.0.0.0/4 masquerade comment \"overlay masq\"\n")
            .doesNotContain("fully-random");
        assertThat(IptablesForwardRules.chainRules(NETWORK)).containsExactly(
            "-A OVERLAY-FWD -s 100.64.0.0/16 -m comment --comment \"overlay forward\" -j ACCEPT",
            "-A OVERLAY-FWD -d 100.64.0.0/16 -m comment --comment \"overlay forward\" -j ACCEPT");
    }

    @Test
    void resyncBelowOneSecondIsRefused() {
        assertThatThrownBy(() -> new LinuxTrafficManager.Settings(true, true, true, true, Duration.ofMillis(500)))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least 1 s");
    }

    @FunctionalInterface
    private interface Condition {
        boolean holds();
    }

    private static void await(final Condition c) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!c.holds() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(c.holds()).as("condition within 15 s").isTrue();
    }
}
