package io.overlay.tun;

import static io.overlay.testing.Await.awaitTrue;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TrafficManager;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link LinuxTrafficManager} against the real {@code nft}, {@code iptables} and kernel, only ever inside namespaces
 * this test makes: the manager's thread enters the namespace ({@link NetnsThread#threadFactory}) and the tools it
 * starts inherit it (checked first). Covers the exact rules, their restoration after {@code nft flush ruleset},
 * their removal on close, IPv4 forwarding, and a router whose iptables FORWARD policy is DROP with Docker-style
 * chains made by hand: it forwards Network traffic only while the rules are there.
 */
@Privileged
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LinuxTrafficManagerTest {
    private static final Duration TEN_SECONDS = Duration.ofSeconds(10);
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");
    private static final Ipv4Prefix SUBNET = Ipv4Prefix.parse("100.64.5.0/24");

    private static LinuxTrafficManager manager(final Netns ns, final boolean masq, final boolean forward,
                                               final boolean ipForward, final int resyncSeconds) throws Exception {
        // the guard: a tool started from a thread of this factory runs in the test namespace, not the root one
        final String inside = NetnsThread.call(ns.name(), () -> HostCommand.run(null, "readlink", "/proc/self/ns/net"));
        assertThat(inside).isEqualTo(ns.exec("readlink", "/proc/self/ns/net").strip())
            .isNotEqualTo(Netns.run("readlink", "/proc/self/ns/net").strip());
        return new LinuxTrafficManager(new LinuxTrafficManager.Settings(masq, true, forward, ipForward,
            Duration.ofSeconds(resyncSeconds)), NetnsThread.threadFactory(ns.name()));
    }

    private static void awaitNoProblem(final TrafficManager m) throws InterruptedException {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (m.problem().isPresent() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(m.problem()).isEmpty();
    }

    @Test
    void installsFlannelsRulesRestoresThemAfterAFlushAndRemovesThemOnClose() throws Exception {
        try (Netns ns = Netns.create()) {
            assertThat(ns.exec("sysctl", "-n", "net.ipv4.ip_forward").strip()).isEqualTo("0");
            final LinuxTrafficManager m = manager(ns, true, true, true, 1);
            assertThat(m.problem()).contains(TrafficManager.INSTALLING);
            m.apply(NETWORK, SUBNET);
            awaitNoProblem(m);
            assertThat(ns.exec("nft", "list", "table", "ip", "overlay")).isEqualTo("""
                table ip overlay {
                \tchain postrouting {
                \t\ttype nat hook postrouting priority srcnat; policy accept;
                \t\tmeta mark & 0x00004000 == 0x00004000 return comment "overlay masq"
                \t\tip saddr 100.64.5.0/24 ip daddr 100.64.0.0/16 return comment "overlay masq"
                \t\tip saddr 100.64.0.0/16 ip daddr 100.64.5.0/24 return comment "overlay masq"
                \t\tip saddr != 100.64.0.0/16 ip daddr 100.64.5.0/24 return comment "overlay masq"
                \t\tip saddr 100.64.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random comment "overlay masq"
                \t\tip saddr != 100.64.0.0/16 ip daddr 100.64.0.0/16 masquerade fully-random comment "overlay masq"
                \t}
                }
                """);
            assertThat(ns.exec("iptables", "-S")).contains(
                "-N OVERLAY-FWD",
                "-A FORWARD -m comment --comment \"overlay forward\" -j OVERLAY-FWD",
                "-A OVERLAY-FWD -s 100.64.0.0/16 -m comment --comment \"overlay forward\" -j ACCEPT",
                "-A OVERLAY-FWD -d 100.64.0.0/16 -m comment --comment \"overlay forward\" -j ACCEPT");
            assertThat(ns.exec("sysctl", "-n", "net.ipv4.ip_forward").strip()).as("set with a bridge").isEqualTo("1");

            // a subnet change replaces the rules in one go
            m.apply(NETWORK, Ipv4Prefix.parse("100.64.9.0/24"));
            awaitTrue("the new subnet's rules", TEN_SECONDS,
                () -> ns.exec("nft", "list", "table", "ip", "overlay").contains("ip saddr 100.64.9.0/24")
                && !ns.exec("nft", "list", "table", "ip", "overlay").contains("100.64.5.0"));

            // a firewall reload that wipes everything heals within the re-check period (1 s here)
            final String before = tableHandle(ns);
            ns.exec("nft", "flush", "ruleset");
            ns.exec("sysctl", "-qw", "net.ipv4.ip_forward=0");
            final long flushed = System.nanoTime();
            // the re-check may already be restoring, so the proof of a flush is a new table (a new handle)
            awaitTrue("the rules back after a flush", TEN_SECONDS, () -> ns.exec("nft", "list", "ruleset")
                .contains("table ip overlay")
                && !tableHandle(ns).equals(before)
                && ns.exec("iptables", "-S").contains("-A OVERLAY-FWD -d 100.64.0.0/16")
                && ns.exec("sysctl", "-n", "net.ipv4.ip_forward").strip().equals("1"));
            assertThat(Duration.ofNanos(System.nanoTime() - flushed)).isLessThan(Duration.ofSeconds(3));
            // an edited chain is put back as well
            ns.exec("nft", "flush", "chain", "ip", "overlay", "postrouting");
            awaitTrue("the edited chain put back", TEN_SECONDS,
                () -> ns.exec("nft", "list", "table", "ip", "overlay").contains("masquerade fully-random"));
            awaitNoProblem(m);

            m.close();
            assertThat(ns.exec("nft", "list", "ruleset")).doesNotContain("overlay").doesNotContain("OVERLAY");
            assertThat(ns.exec("iptables", "-S")).doesNotContain("OVERLAY-FWD");
            Thread.sleep(1500); // no check re-installs anything after close
            assertThat(ns.exec("nft", "list", "ruleset")).doesNotContain("overlay").doesNotContain("OVERLAY");
        }
    }

    @Test
    void withoutMasqueradeOrForwardRulesNothingIsInstalledAndCloseRunsNothingBeforeApply() throws Exception {
        try (Netns ns = Netns.create()) {
            final LinuxTrafficManager idle = manager(ns, true, true, false, 1);
            idle.close(); // never applied: no tool runs
            assertThat(ns.exec("nft", "list", "ruleset").strip()).isEmpty();

            final LinuxTrafficManager m = manager(ns, false, false, false, 1);
            m.apply(NETWORK, SUBNET);
            awaitNoProblem(m);
            assertThat(ns.exec("nft", "list", "ruleset").strip()).isEmpty();
            assertThat(ns.exec("sysctl", "-n", "net.ipv4.ip_forward").strip()).isEqualTo("0");
            m.close();
        }
    }

    @Test
    void aRouterWithDockersDropPolicyForwardsTheNetworkOnlyWithTheForwardRules() throws Exception {
        try (Netns router = Netns.create(); Netns a = Netns.create(); Netns b = Netns.create()) {
            Netns.link(a, "eth0", "100.64.1.2/24", router, "ra", "100.64.1.1/24", 1500);
            Netns.link(b, "eth0", "100.64.2.2/24", router, "rb", "100.64.2.1/24", 1500);
            a.exec("ip", "route", "add", "default", "via", "100.64.1.1");
            b.exec("ip", "route", "add", "default", "via", "100.64.2.1");
            router.exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
            assertThat(ping(a, "100.64.2.2")).as("control: forwarded with the default ACCEPT policy").isTrue();
            // Docker's filter rules (iptables-nft), made by hand as dockerd makes them
            router.exec("iptables", "-N", "DOCKER");
            router.exec("iptables", "-N", "DOCKER-USER");
            router.exec("iptables", "-N", "DOCKER-ISOLATION-STAGE-1");
            router.exec("iptables", "-A", "DOCKER-USER", "-j", "RETURN");
            router.exec("iptables", "-A", "DOCKER-ISOLATION-STAGE-1", "-j", "RETURN");
            router.exec("iptables", "-A", "FORWARD", "-j", "DOCKER-USER");
            router.exec("iptables", "-A", "FORWARD", "-j", "DOCKER-ISOLATION-STAGE-1");
            router.exec("iptables", "-P", "FORWARD", "DROP");
            assertThat(ping(a, "100.64.2.2")).as("dropped by the FORWARD policy").isFalse();

            final LinuxTrafficManager m = manager(router, false, true, false, 1);
            m.apply(NETWORK, SUBNET);
            awaitNoProblem(m);
            assertThat(router.exec("iptables", "-S", "FORWARD")).contains("-P FORWARD DROP")
                .containsSubsequence("-j DOCKER-USER", "-j DOCKER-ISOLATION-STAGE-1", "-j OVERLAY-FWD");
            assertThat(ping(a, "100.64.2.2")).as("accepted by OVERLAY-FWD").isTrue();

            m.close();
            assertThat(router.exec("iptables", "-S")).doesNotContain("OVERLAY-FWD").contains("-P FORWARD DROP")
                .contains("-A FORWARD -j DOCKER-USER");
            assertThat(ping(a, "100.64.2.2")).as("dropped again once the rules are removed").isFalse();
        }
    }

    @Test
    void rulesLeftByAnEarlierRunAreRemovedWhenTheirFeatureIsOff() throws Exception {
        try (Netns ns = Netns.create()) {
            // as a SIGKILLed run with --ip-masq and the default forward rules leaves them
            final LinuxTrafficManager killed = manager(ns, true, true, false, 60);
            killed.apply(NETWORK, SUBNET);
            awaitNoProblem(killed);
            ns.exec("nft", "add", "table", "ip", "keep"); // someone else's table stays
            final LinuxTrafficManager next = manager(ns, false, false, false, 60);
            next.apply(NETWORK, SUBNET);
            awaitNoProblem(next);
            assertThat(ns.exec("nft", "list", "ruleset")).doesNotContain("table ip overlay").contains("table ip keep");
            assertThat(ns.exec("iptables", "-S")).doesNotContain("OVERLAY-FWD");
            next.close();
            killed.close();
        }
    }

    @Test
    void prepareRemovesRulesLeftByAnEarlierRunBeforeAnyApplyAndInstallsNothing() throws Exception {
        try (Netns ns = Netns.create()) {
            final LinuxTrafficManager killed = manager(ns, true, false, false, 60);
            killed.apply(NETWORK, SUBNET);
            awaitNoProblem(killed);
            assertThat(ns.exec("nft", "list", "ruleset")).contains("table ip overlay");
            // masquerade off, forward rules on: the masquerade table is stale, the forward chain is not ours yet
            final LinuxTrafficManager next = manager(ns, false, true, false, 60);
            next.prepare();
            final long deadline = System.nanoTime() + 10_000_000_000L;
            while (ns.exec("nft", "list", "ruleset").contains("table ip overlay") && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(ns.exec("nft", "list", "ruleset")).doesNotContain("table ip overlay");
            assertThat(ns.exec("iptables", "-S")).as("installed only by apply").doesNotContain("OVERLAY-FWD");
            assertThat(next.problem()).contains(TrafficManager.INSTALLING);
            next.apply(NETWORK, SUBNET);
            awaitNoProblem(next);
            assertThat(ns.exec("iptables", "-S")).contains("OVERLAY-FWD");
            assertThat(ns.exec("nft", "list", "ruleset")).doesNotContain("table ip overlay");
            next.close();
            killed.close();
        }
    }

    /** The first line of {@code nft -a list table ip overlay}, which carries the table's handle. */
    private static String tableHandle(final Netns ns) throws IOException {
        return ns.exec("nft", "-a", "list", "table", "ip", "overlay").lines().findFirst().orElse("");
    }

    private static boolean ping(final Netns from, final String to) {
        try {
            from.exec("ping", "-c", "1", "-W", "1", "-q", to);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void findToolFindsTheDebianTools() {
        assertThat(LinuxTrafficManager.findTool("nft")).map(p -> p.getFileName().toString()).isEqualTo(Optional.of("nft"));
        assertThat(LinuxTrafficManager.findTool("no-such-tool-x")).isEmpty();
    }
}
