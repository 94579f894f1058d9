package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.overlay.core.Overlay;
import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.flannel.SubnetEnv;
import io.overlay.core.spi.TunSetup;
import io.overlay.etcd.EtcdSettings;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** OverlayMain's flanneld-style options: names, defaults, FLANNELD_* variables, validation and exit statuses. */
class OverlayMainOptionsTest {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private OverlayMain parse(final Map<String, String> env, final String... args) {
        final CommandLine cl = OverlayMain.commandLine(env);
        cl.parseArgs(args);
        return cl.getCommand();
    }

    private int run(final Map<String, String> env, final String... args) {
        final CommandLine cl = OverlayMain.commandLine(env);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    @Test
    void defaultsAreFlanneldsDefaults() {
        final OverlayMain m = parse(Map.of());
        assertThat(m.etcdEndpoints).containsExactly("http://127.0.0.1:4001", "http://127.0.0.1:2379");
        assertThat(m.etcdPrefix).isEqualTo("/coreos.com/network");
        assertThat(m.subnetFile).isEqualTo(Path.of("/run/flannel/subnet.env"));
        assertThat(m.renewMarginMinutes).isEqualTo(60);
        assertThat(m.healthzIp).isEqualTo("0.0.0.0");
        assertThat(m.healthzPort).isZero();
        assertThat(m.ipMasq).isFalse();
        assertThat(m.ifaces).isEmpty();
        assertThat(m.publicIp).isNull();
        assertThat(m.bridge).isNull();
        assertThat(m.tunName).isEqualTo("flannel%d");
        assertThat(m.acceptAnySender).isFalse();
        assertThat(m.tunTxQueueLength).isEqualTo(2000);
        assertThat(m.ifaceRegexes).isEmpty();
        assertThat(m.ifaceCanReach).isNull();
        assertThat(m.ipMasqFullyRandomDisable).isFalse();
        assertThat(m.iptablesForwardRules).isTrue();
        assertThat(m.iptablesResyncSeconds).isEqualTo(5);
        assertThat(m.problems()).isEmpty();
    }

    @Test
    void leaseFileIsNoneByDefaultAndSetByOptionOrFlanneldVariable() throws Exception {
        assertThat(parse(Map.of()).leaseFile).isNull();
        assertThat(parse(Map.of("FLANNELD_LEASE_FILE", "/var/lib/overlay/lease.env")).leaseFile)
            .isEqualTo(Path.of("/var/lib/overlay/lease.env"));
        assertThat(parse(Map.of(), "--lease-file=/tmp/l.env").leaseFile).isEqualTo(Path.of("/tmp/l.env"));
    }

    @Test
    void encryptionIsOffByDefaultAndSetByOptionOrFlanneldVariable() throws Exception {
        assertThat(parse(Map.of()).encryption).isEqualTo("off");
        assertThat(parse(Map.of()).pskFile).isNull();
        final Path psk = java.nio.file.Files.createTempFile("overlay-psk", ".key");
        try {
            final OverlayMain env = parse(Map.of("FLANNELD_ENCRYPTION", "required", "FLANNELD_PSK_FILE",
                psk.toString()));
            assertThat(env.encryption).isEqualTo("required");
            assertThat(env.pskFile).isEqualTo(psk);
            assertThat(env.problems()).isEmpty();
            assertThat(parse(Map.of("FLANNELD_ENCRYPTION", "required"), "--encryption", "preferred").encryption)
                .isEqualTo("preferred");
        } finally {
            java.nio.file.Files.delete(psk);
        }
        assertThat(parse(Map.of(), "--encryption", "on").problems())
            .containsExactly("encryption must be off, preferred or required, got 'on'");
        assertThat(parse(Map.of(), "--psk-file", "/nonexistent/psk").problems())
            .containsExactly("--psk-file /nonexistent/psk is not a readable file");
    }

    @Test
    void defaultsAndRangesAreTheLibrarys() {
        final OverlayMain m = parse(Map.of());
        assertThat(String.join(",", m.etcdEndpoints)).isEqualTo(EtcdSettings.DEFAULT_ENDPOINTS);
        assertThat(m.etcdPrefix).isEqualTo(EtcdSettings.DEFAULT_PREFIX);
        assertThat(m.subnetFile).isEqualTo(SubnetEnv.DEFAULT_PATH);
        assertThat(Duration.ofMinutes(m.renewMarginMinutes)).isEqualTo(EtcdSettings.DEFAULT_RENEW_MARGIN);
        assertThat(m.tunName).isEqualTo(FlannelRules.TUN_NAME_TEMPLATE);
        assertThat(m.tunTxQueueLength).isEqualTo(TunSetup.DEFAULT_TX_QUEUE_LENGTH);
        assertThat(m.loops).isEqualTo(Overlay.DEFAULT_LOOPS);
        assertThat(Duration.ofSeconds(m.iptablesResyncSeconds)).isEqualTo(Overlay.DEFAULT_HOST_CHECK);
        final long shortest = Overlay.MIN_HOST_CHECK.toSeconds();
        assertThat(parse(Map.of(), "--iptables-resync", "" + shortest).problems()).isEmpty();
        assertThat(parse(Map.of(), "--iptables-resync", "" + (shortest - 1)).problems()).hasSize(1);
        assertThat(parse(Map.of("FLANNELD_IPTABLES_RESYNC", "7")).iptablesResyncSeconds).as("still from flanneld's "
            + "variable without an annotated default").isEqualTo(7);
        final int tooLong = TunSetup.MAX_TX_QUEUE_LENGTH + 1;
        assertThat(parse(Map.of(), "--tun-txqueuelen", "" + tooLong).problems()).containsExactly(
            assertThrows(IllegalArgumentException.class,
                () -> TunSetup.checkTxQueueLength("--tun-txqueuelen", tooLong)).getMessage());
        assertThat(parse(Map.of(), "--healthz-port", "65536").problems()).containsExactly(
            assertThrows(IllegalArgumentException.class, () -> HealthServer.checkPort("--healthz-port", 65536))
                .getMessage());
        assertThat(run(Map.of(), "--help")).isZero();
        assertThat(out.toString().replaceAll("\\s+", " ")).contains("expires, 1..1439 (default: 60)")
            .contains("(default: /run/flannel/subnet.env)").contains("(default: flannel%d)")
            .contains("restored (default: " + Overlay.DEFAULT_HOST_CHECK.toSeconds() + ")");
    }

    @Test
    void everyOptionIsReadFromItsFlanneldVariable() {
        final OverlayMain m = parse(Map.ofEntries(
            Map.entry("FLANNELD_ETCD_ENDPOINTS", "http://198.18.0.254:2379,http://198.18.0.253:2379"),
            Map.entry("FLANNELD_ETCD_PREFIX", "/test/network"),
            Map.entry("FLANNELD_ETCD_USERNAME", "flannel"),
            Map.entry("FLANNELD_ETCD_PASSWORD", "secret"),
            Map.entry("FLANNELD_IFACE", "eth1,198.18.0.1"),
            Map.entry("FLANNELD_PUBLIC_IP", "198.18.0.1"),
            Map.entry("FLANNELD_SUBNET_FILE", "/tmp/x/subnet.env"),
            Map.entry("FLANNELD_SUBNET_LEASE_RENEW_MARGIN", "30"),
            Map.entry("FLANNELD_HEALTHZ_IP", "127.0.0.1"),
            Map.entry("FLANNELD_HEALTHZ_PORT", "8471"),
            Map.entry("FLANNELD_BRIDGE", "lxcbr0"),
            Map.entry("FLANNELD_TUN_NAME", "ovl0"),
            Map.entry("FLANNELD_ACCEPT_ANY_SENDER", "true")));
        assertThat(m.etcdEndpoints).containsExactly("http://198.18.0.254:2379", "http://198.18.0.253:2379");
        assertThat(m.etcdPrefix).isEqualTo("/test/network");
        assertThat(m.etcdUsername).isEqualTo("flannel");
        assertThat(m.etcdPassword).isEqualTo("secret");
        assertThat(m.ifaces).containsExactly("eth1", "198.18.0.1");
        assertThat(m.publicIp).isEqualTo("198.18.0.1");
        assertThat(m.subnetFile).isEqualTo(Path.of("/tmp/x/subnet.env"));
        assertThat(m.renewMarginMinutes).isEqualTo(30);
        assertThat(m.healthzIp).isEqualTo("127.0.0.1");
        assertThat(m.healthzPort).isEqualTo(8471);
        assertThat(m.bridge).isEqualTo("lxcbr0");
        assertThat(m.tunName).isEqualTo("ovl0");
        assertThat(m.acceptAnySender).isTrue();
        assertThat(parse(Map.of("FLANNELD_IP_MASQ", "true")).ipMasq).isTrue();
    }

    @Test
    void theCommandLineWinsOverTheEnvironment() {
        final OverlayMain m = parse(Map.of("FLANNELD_ETCD_PREFIX", "/from/env", "FLANNELD_IFACE", "eth9",
            "FLANNELD_HEALTHZ_PORT", "1"), "--etcd-prefix", "/from/args", "--iface", "veth0", "--iface=veth1");
        assertThat(m.etcdPrefix).isEqualTo("/from/args");
        assertThat(m.ifaces).containsExactly("veth0", "veth1");
        assertThat(m.healthzPort).isEqualTo(1);
    }

    @Test
    void helpAndVersionAreNeverTakenFromTheEnvironment() {
        final CommandLine cl = OverlayMain.commandLine(Map.of("FLANNELD_HELP", "true", "FLANNELD_VERSION", "true"));
        cl.parseArgs();
        assertThat(cl.isUsageHelpRequested()).isFalse();
        assertThat(cl.isVersionHelpRequested()).isFalse();
    }

    @Test
    void anEmptyVariableLeavesTheDefault() {
        assertThat(parse(Map.of("FLANNELD_ETCD_PREFIX", "")).etcdPrefix).isEqualTo("/coreos.com/network");
    }

    @Test
    void theVariableNameIsTheFlagUpperCasedWithUnderscores() {
        assertThat(FlannelEnvironment.variableFor("--subnet-lease-renew-margin"))
            .isEqualTo("FLANNELD_SUBNET_LEASE_RENEW_MARGIN");
        assertThat(FlannelEnvironment.variableFor("--ip-masq")).isEqualTo("FLANNELD_IP_MASQ");
    }

    @Test
    void aRenewMarginOutside1To1439MinutesExitsWith1() {
        assertThat(run(Map.of(), "--subnet-lease-renew-margin", "0")).isEqualTo(1);
        assertThat(err.toString()).contains("--subnet-lease-renew-margin must be 1..1439 minutes, got 0");
        assertThat(run(Map.of("FLANNELD_SUBNET_LEASE_RENEW_MARGIN", "1440"))).isEqualTo(1);
        assertThat(err.toString()).contains("got 1440");
        assertThat(parse(Map.of(), "--subnet-lease-renew-margin", "1").problems()).isEmpty();
        assertThat(parse(Map.of(), "--subnet-lease-renew-margin", "1439").problems()).isEmpty();
    }

    @Test
    void leaseTakeoverIsRefusedByDefaultAndAllowedByItsOption() {
        assertThat(parse(Map.of()).etcdSettings().allowLeaseTakeover()).isFalse();
        assertThat(parse(Map.of(), "--allow-lease-takeover").etcdSettings().allowLeaseTakeover()).isTrue();
        assertThat(parse(Map.of("FLANNELD_ALLOW_LEASE_TAKEOVER", "true")).etcdSettings().allowLeaseTakeover())
            .isTrue();
    }

    @Test
    void offloadsAreOnByDefaultAndCanBeTurnedOff() {
        assertThat(parse(Map.of()).offloads).isTrue();
        assertThat(parse(Map.of(), "--offloads=false").offloads).isFalse();
        assertThat(parse(Map.of(), "--offloads=true").offloads).isTrue();
        assertThat(parse(Map.of("FLANNELD_OFFLOADS", "false")).offloads).isFalse();
    }

    @Test
    void loopsDefaultToFlannelsOneAndAreValidatedWithTheLibrarysRange() {
        assertThat(parse(Map.of()).loops).isEqualTo(1);
        assertThat(parse(Map.of(), "--loops=4").loops).isEqualTo(4);
        assertThat(parse(Map.of("FLANNELD_LOOPS", "2")).loops).isEqualTo(2);
        assertThat(parse(Map.of(), "--loops", "" + Overlay.MAX_LOOPS).problems()).isEmpty();
        for (int bad : new int[] {0, Overlay.MAX_LOOPS + 1}) {
            assertThat(parse(Map.of(), "--loops", "" + bad).problems()).containsExactly(
                assertThrows(IllegalArgumentException.class, () -> Overlay.checkLoops("--loops", bad)).getMessage());
        }
        assertThat(run(Map.of(), "--loops", "0")).isEqualTo(1);
        assertThat(err.toString()).contains("overlay: --loops must be 1..64, got 0");
        out.getBuffer().setLength(0);
        assertThat(run(Map.of(), "--help")).isZero();
        assertThat(out.toString().replaceAll("\\s+", " ")).contains("--loops=<n>").contains("Port + i")
            .contains("(default: 1, flannel's one)");
    }

    @Test
    void tunTxQueueLengthDefaultsTo2000AndIsValidatedNamingTheOption() {
        assertThat(parse(Map.of()).tunTxQueueLength).isEqualTo(2000);
        assertThat(parse(Map.of(), "--tun-txqueuelen=3333").tunTxQueueLength).isEqualTo(3333);
        assertThat(parse(Map.of(), "--tun-txqueuelen", "0").problems()).as("0 leaves the device's value").isEmpty();
        assertThat(parse(Map.of(), "--tun-txqueuelen", "1000000").problems()).isEmpty();
        // read from the environment like every option (FlannelEnvironment), though flanneld has no such flag
        assertThat(parse(Map.of("FLANNELD_TUN_TXQUEUELEN", "4096")).tunTxQueueLength).isEqualTo(4096);
        final CommandLine cl = OverlayMain.commandLine(Map.of());
        assertThat(GoFlags.normalize(cl, new String[] {"-tun-txqueuelen", "100"}))
            .containsExactly("--tun-txqueuelen=100");

        assertThat(run(Map.of(), "--tun-txqueuelen", "-1")).isEqualTo(1);
        assertThat(err.toString()).contains("overlay: --tun-txqueuelen must be 1..1000000 packets, or 0 to leave the "
            + "device's value, got -1");
        err.getBuffer().setLength(0);
        assertThat(run(Map.of(), "--tun-txqueuelen", "1000001")).isEqualTo(1);
        assertThat(err.toString()).contains("--tun-txqueuelen").contains("got 1000001");
        assertThat(run(Map.of(), "--tun-txqueuelen", "lots")).isEqualTo(2);
        assertThat(err.toString()).contains("lots");
        out.getBuffer().setLength(0);
        assertThat(run(Map.of(), "--help")).isZero();
        assertThat(out.toString().replaceAll("\\s+", " ")).contains("--tun-txqueuelen=<packets>")
            .contains("not flanneld's").contains("(default: 2000)");
    }

    @Test
    void ipMasqIsValidAndWithoutNftExits1NamingTheFix() {
        assertThat(parse(Map.of(), "--ip-masq=false").problems()).isEmpty();
        assertThat(parse(Map.of(), "--ip-masq=true").ipMasq).isTrue();
        assertThat(parse(Map.of(), "--ip-masq").problems()).isEmpty();
        final CommandLine cl = OverlayMain.commandLine(Map.of());
        cl.setErr(new PrintWriter(err, true));
        ((OverlayMain) cl.getCommand()).findTool = name -> java.util.Optional.empty();
        assertThat(cl.execute("--ip-masq", "--etcd-endpoints", "http://127.0.0.1:1")).isEqualTo(1);
        assertThat(err.toString()).contains("--ip-masq needs the nft program, which is not installed: install it "
            + "(apt install nftables) or drop --ip-masq");
    }

    @Test
    void hostRuleOptionsAreFlanneldsAndReadFromTheirVariables() {
        final OverlayMain m = parse(Map.of("FLANNELD_IPTABLES_FORWARD_RULES", "false", "FLANNELD_IPTABLES_RESYNC", "7",
            "FLANNELD_IP_MASQ_FULLY_RANDOM_DISABLE", "true", "FLANNELD_IFACE_REGEX", "^198\\.18\\.",
            "FLANNELD_IFACE_CAN_REACH", "198.18.0.254"));
        assertThat(m.iptablesForwardRules).isFalse();
        assertThat(m.iptablesResyncSeconds).isEqualTo(7);
        assertThat(m.ipMasqFullyRandomDisable).isTrue();
        assertThat(m.ifaceRegexes).containsExactly("^198\\.18\\.");
        assertThat(m.ifaceCanReach).isEqualTo("198.18.0.254");
        assertThat(parse(Map.of(), "--iface-regex", "a,b", "--iface-regex", "^eth[0-9]{1,2}$").ifaceRegexes)
            .as("repeatable, and a comma stays inside the pattern").containsExactly("a,b", "^eth[0-9]{1,2}$");
        assertThat(parse(Map.of(), "--iptables-forward-rules=false").iptablesForwardRules).isFalse();
    }

    @Test
    void badInterfaceChoiceAndResyncExit1NamingTheOption() {
        assertThat(run(Map.of(), "--iface-regex", "eth(")).isEqualTo(1);
        assertThat(err.toString()).contains("--iface-regex 'eth(' is not a valid regular expression")
            .contains("fix the pattern");
        err.getBuffer().setLength(0);
        assertThat(run(Map.of(), "--iface-can-reach", "somewhere")).isEqualTo(1);
        assertThat(err.toString()).contains("--iface-can-reach must be an IPv4 address, got 'somewhere'");
        err.getBuffer().setLength(0);
        assertThat(run(Map.of(), "--iptables-resync", "0")).isEqualTo(1);
        assertThat(err.toString()).contains("--iptables-resync must be at least 1 second, got 0");
    }

    @Test
    void otherInvalidCombinationsExitWith1NamingTheOption() {
        assertThat(run(Map.of(), "--healthz-port", "70000")).isEqualTo(1);
        assertThat(err.toString()).contains("--healthz-port must be 0..65535");
        assertThat(run(Map.of(), "--etcd-certfile", "/tmp/c.pem")).isEqualTo(1);
        assertThat(err.toString()).contains("--etcd-certfile and --etcd-keyfile must be given together");
        assertThat(run(Map.of(), "--public-ip", "not-an-ip", "--etcd-endpoints", "http://127.0.0.1:1")).isEqualTo(1);
        assertThat(err.toString()).contains("publicIp").contains("not-an-ip");
        assertThat(run(Map.of(), "--bridge", "a/b", "--etcd-endpoints", "http://127.0.0.1:1")).isEqualTo(1);
        assertThat(err.toString()).contains("bridge").contains("a/b");
        assertThat(run(Map.of(), "--etcd-endpoints", "ftp://x")).isEqualTo(1);
        assertThat(err.toString()).contains("ftp://x");
    }

    @Test
    void anUnknownOptionOrBadNumberIsAUsageErrorWithStatus2() {
        assertThat(run(Map.of(), "--no-such-option")).isEqualTo(2);
        assertThat(err.toString()).contains("--no-such-option");
        assertThat(run(Map.of(), "--healthz-port", "eighty")).isEqualTo(2);
        assertThat(err.toString()).contains("eighty");
    }

    @Test
    void helpListsEveryFlanneldOptionAndVersionPrintsTheVersion() {
        assertThat(run(Map.of(), "--help")).isZero();
        assertThat(out.toString()).contains("--etcd-endpoints", "--etcd-prefix", "--etcd-cafile", "--etcd-certfile",
            "--etcd-keyfile", "--etcd-username", "--etcd-password", "--iface", "--public-ip", "--subnet-file",
            "--subnet-lease-renew-margin", "--healthz-ip", "--healthz-port", "--ip-masq", "--bridge", "--tun-name",
            "--iface-regex", "--iface-can-reach", "--ip-masq-fully-random-disable", "--iptables-forward-rules",
            "--iptables-resync",
            "--accept-any-sender", "FLANNELD_", "health", "Exit status: 0 after SIGTERM/SIGINT", "4 no free subnet.");
        out.getBuffer().setLength(0);
        assertThat(run(Map.of(), "--version")).isZero();
        assertThat(out.toString()).startsWith("overlay ");
        out.getBuffer().setLength(0);
        assertThat(run(Map.of(), "health", "--help")).isZero();
        assertThat(out.toString()).contains("--healthz-port").contains("/readyz");
    }

    @Test
    void singleDashLongOptionsWorkAsWithFlanneldsGoFlags() {
        final CommandLine cl = OverlayMain.commandLine(Map.of());
        assertThat(GoFlags.normalize(cl, new String[] {"-etcd-endpoints=http://198.18.0.254:2379", "-iface", "eth0",
            "--bridge", "cbr0", "-h", "-V", "-no-such", "-ip-masq=false", "health", "-healthz-port", "8471", "--",
            "-iface"})).containsExactly("--etcd-endpoints=http://198.18.0.254:2379", "--iface=eth0", "--bridge=cbr0",
                "-h", "-V", "-no-such", "--ip-masq=false", "health", "--healthz-port=8471", "--", "-iface");
        final OverlayMain m = parse(Map.of(), GoFlags.normalize(cl, new String[] {"-etcd-prefix=/x", "-iface",
            "eth0", "-accept-any-sender"}));
        assertThat(m.etcdPrefix).isEqualTo("/x");
        assertThat(m.ifaces).containsExactly("eth0");
        assertThat(m.acceptAnySender).isTrue();
    }

    @Test
    void anOptionValueThatReadsLikeTheHealthSubcommandStaysAValue() {
        final CommandLine cl = OverlayMain.commandLine(Map.of());
        assertThat(GoFlags.normalize(cl, new String[] {"--bridge", "health", "-tun-name", "health", "-iface",
            "-etcd-prefix", "--ip-masq", "health", "-healthz-port", "8471"})).containsExactly("--bridge=health",
                "--tun-name=health", "--iface=-etcd-prefix", "--ip-masq", "health", "--healthz-port=8471");
        final OverlayMain m = parse(Map.of(), GoFlags.normalize(cl, new String[] {"-bridge", "health", "-tun-name",
            "health"}));
        assertThat(m.bridge).isEqualTo("health");
        assertThat(m.tunName).isEqualTo("health");
    }

    @Test
    void flanneldVariablesThatWouldChangeBehaviourExitWith1NamingThem() {
        for (Map.Entry<String, String> v : List.of(Map.entry("FLANNELD_PUBLIC_IPV6", "2001:db8::1"),
            Map.entry("FLANNELD_KUBE_SUBNET_MGR", "true"), Map.entry("FLANNELD_KUBECONFIG_FILE", "/etc/kube.conf"),
            Map.entry("FLANNELD_KUBE_API_URL", "https://198.18.0.254:6443"),
            Map.entry("FLANNELD_NET_CONFIG_PATH", "/etc/kube-flannel/net-conf.json"),
            Map.entry("FLANNELD_IP_BLACKHOLE_ROUTE", "1"), Map.entry("FLANNELD_KUBE_SUBNET_MGR", "maybe"))) {
            err.getBuffer().setLength(0);
            assertThat(run(Map.of(v.getKey(), v.getValue()))).as(v.toString()).isEqualTo(1);
            assertThat(err.toString()).as(v.toString()).startsWith("overlay: " + v.getKey());
        }
        assertThat(err.toString()).contains("'maybe' is not a boolean");
        err.getBuffer().setLength(0);
        run(Map.of("FLANNELD_PUBLIC_IPV6", "2001:db8::1"));
        assertThat(err.toString()).contains("FLANNELD_PUBLIC_IPV6 is set (2001:db8::1) but IPv6 is not supported "
            + "(the udp backend is IPv4 only); unset it");
    }

    @Test
    void flanneldVariablesWithoutEffectAreOnlyReportedAndUnknownOnesToo() {
        final CommandLine cl = OverlayMain.commandLine(Map.of());
        final FlannelEnvironment env = new FlannelEnvironment(Map.of("FLANNELD_KUBE_ANNOTATION_PREFIX", "x.io",
            "FLANNELD_SET_NODE_NETWORK_UNAVAILABLE", "true", "FLANNELD_VMODULE", "main=2",
            "FLANNELD_V", "2", "FLANNELD_KUBE_SUBNET_MGR", "false", "FLANNELD_ETCD_ENDPOINT", "http://x:2379",
            "FLANNELD_ETCD_PREFIX", "/x", "FLANNELD_PUBLIC_IPV6", "", "PATH", "/bin"));
        final FlannelEnvironment.Check check = env.check(cl.getCommandSpec());
        assertThat(check.errors()).isEmpty();
        assertThat(check.ignored()).containsExactly("FLANNELD_ETCD_ENDPOINT=http://x:2379 (not a flanneld option)",
            "FLANNELD_KUBE_ANNOTATION_PREFIX=x.io", "FLANNELD_KUBE_SUBNET_MGR=false",
            "FLANNELD_SET_NODE_NETWORK_UNAVAILABLE=true", "FLANNELD_V=2", "FLANNELD_VMODULE=main=2");
        // every option's own variable is known
        final List<String> all = cl.getCommandSpec().options().stream()
            .map(o -> FlannelEnvironment.variableFor(o.longestName())).toList();
        assertThat(new FlannelEnvironment(all.stream().collect(java.util.stream.Collectors.toMap(n -> n, n -> "1")))
            .check(cl.getCommandSpec())).isEqualTo(new FlannelEnvironment.Check(List.of(), List.of()));
    }

    @Test
    void booleansAcceptGoSpellings() {
        assertThat(parse(Map.of("FLANNELD_IP_MASQ", "1")).ipMasq).isTrue();
        assertThat(parse(Map.of("FLANNELD_IP_MASQ", "F")).ipMasq).isFalse();
        assertThat(parse(Map.of(), "--accept-any-sender=t").acceptAnySender).isTrue();
        assertThat(parse(Map.of(), "--accept-any-sender=False").acceptAnySender).isFalse();
        assertThat(run(Map.of(), "--accept-any-sender=yes")).isEqualTo(2);
        assertThat(err.toString()).contains("'yes' is not a boolean");
    }

    @Test
    void strictSourceIsOffByDefaultSetByFlagOrEnvironmentAndRefusedWithAcceptAnySender() {
        assertThat(parse(Map.of()).strictSource).isFalse();
        assertThat(parse(Map.of(), "--strict-source").strictSource).isTrue();
        assertThat(parse(Map.of("FLANNELD_STRICT_SOURCE", "true")).strictSource).isTrue();
        assertThat(parse(Map.of(), "--strict-source").problems()).isEmpty();
        assertThat(parse(Map.of(), "--strict-source", "--accept-any-sender").problems()).containsExactly(
            "--strict-source cannot be used with --accept-any-sender: a sender that is not a peer's PublicIP owns "
                + "no subnet to check the inner source against");
    }

    @Test
    void etcdSettingsCarryTheOptions() {
        final EtcdSettings s = parse(Map.of(), "--etcd-endpoints", "http://198.18.0.254:2379", "--etcd-prefix",
            "/test/net/", "--subnet-lease-renew-margin", "90", "--etcd-username", "u", "--etcd-password", "p",
            "--etcd-cafile", "/nonexistent/ca.pem").etcdSettings();
        assertThat(s.endpoints()).containsExactly(URI.create("http://198.18.0.254:2379"));
        assertThat(s.prefix()).isEqualTo("/test/net");
        assertThat(s.renewMargin()).isEqualTo(Duration.ofMinutes(90));
        assertThat(s.username()).contains("u");
        assertThat(s.password()).contains("p");
        assertThat(s.caFile()).as("a CA file is ignored with http endpoints, as flanneld does").isEmpty();
        assertThat(List.of(s.tls())).containsExactly(false);
    }
}
