package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The runtime configuration subcommands ({@code lxc-net}, {@code docker-opts}, {@code cni-conf}) against fixed
 * {@code subnet.env} inputs: exact output, refusal of missing and malformed files, atomic output files.
 */
class RuntimeConfigCommandsTest {
    private static final String ENV = "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.5.1/24\n"
        + "FLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n";
    private static final String ENV_MASQ = "FLANNEL_NETWORK=10.10.0.0/16\nFLANNEL_SUBNET=10.10.16.1/24\n"
        + "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

    @TempDir
    Path dir;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(final String env, final String... args) throws IOException {
        final Path file = dir.resolve("subnet.env");
        Files.writeString(file, env);
        final List<String> all = new ArrayList<>(List.of(args));
        all.add(1, "--subnet-file=" + file);
        final CommandLine cl = OverlayMain.commandLine(Map.of());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(all.toArray(String[]::new));
    }

    private String output(final String env, final String... args) throws IOException {
        assertThat(run(env, args)).as("exit status; stderr: %s", err).isZero();
        assertThat(err.toString()).isEmpty();
        return out.toString();
    }

    @Test
    void lxcNetVariablesComeFromTheSubnet() throws IOException {
        assertThat(output(ENV, "lxc-net")).isEqualTo("""
            # From subnet.env: LXC's dnsmasq hands out 100.64.5.0/24; containers need
            # lxc.net.0.mtu = 1472 (overlay lxc-net --format container).
            USE_LXC_BRIDGE="true"
            LXC_BRIDGE="lxcbr0"
            LXC_ADDR="100.64.5.1"
            LXC_NETMASK="255.255.255.0"
            LXC_NETWORK="100.64.0.0/16"
            LXC_DHCP_RANGE="100.64.5.2,100.64.5.254"
            LXC_DHCP_MAX="253"
            """);
    }

    @Test
    void lxcNetRangeOfOtherPrefixesAndGateways() throws IOException {
        final String env = "FLANNEL_NETWORK=100.64.0.0/10\nFLANNEL_SUBNET=100.65.3.129/25\nFLANNEL_MTU=1400\n"
            + "FLANNEL_IPMASQ=false\n";
        assertThat(output(env, "lxc-net", "--bridge", "br7")).contains("LXC_BRIDGE=\"br7\"\n",
            "LXC_ADDR=\"100.65.3.129\"\n", "LXC_NETMASK=\"255.255.255.128\"\n", "LXC_NETWORK=\"100.64.0.0/10\"\n",
            "LXC_DHCP_RANGE=\"100.65.3.130,100.65.3.254\"\n", "LXC_DHCP_MAX=\"125\"\n");
        assertThat(HostSubnet.parse("f", List.of("FLANNEL_NETWORK=100.64.0.0/16", "FLANNEL_SUBNET=100.64.5.254/24",
            "FLANNEL_MTU=1472", "FLANNEL_IPMASQ=false")).dhcpRange())
            .containsExactly(0x64400501, 0x644005fd);
    }

    @Test
    void lxcContainerLinesCarryTheMtu() throws IOException {
        assertThat(output(ENV, "lxc-net", "--format", "container", "--bridge", "lxcbr1")).isEqualTo("""
            lxc.net.0.type = veth
            lxc.net.0.link = lxcbr1
            lxc.net.0.flags = up
            lxc.net.0.mtu = 1472
            """);
    }

    @Test
    void dockerOptsAsMkDockerOptsWritesThem() throws IOException {
        assertThat(output(ENV, "docker-opts")).isEqualTo("""
            DOCKER_OPT_BIP="--bip=100.64.5.1/24"
            DOCKER_OPT_MTU="--mtu=1472"
            DOCKER_OPTS=" --bip=100.64.5.1/24 --mtu=1472 "
            """);
    }

    @Test
    void dockerOptsTurnOffDockersMasqueradeWhenTheOverlayMasquerades() throws IOException {
        assertThat(output(ENV_MASQ, "docker-opts", "-k", "OPTS")).isEqualTo("""
            DOCKER_OPT_BIP="--bip=10.10.16.1/24"
            DOCKER_OPT_IPMASQ="--ip-masq=false"
            DOCKER_OPT_MTU="--mtu=1450"
            OPTS=" --bip=10.10.16.1/24 --ip-masq=false --mtu=1450 "
            """);
    }

    @Test
    void dockerDaemonJson() throws IOException {
        assertThat(output(ENV, "docker-opts", "--format", "daemon-json")).isEqualTo("""
            {
              "bip": "100.64.5.1/24",
              "mtu": 1472
            }
            """);
        out.getBuffer().setLength(0);
        assertThat(output(ENV_MASQ, "docker-opts", "--format=daemon-json")).isEqualTo("""
            {
              "bip": "10.10.16.1/24",
              "ip-masq": false,
              "mtu": 1450
            }
            """);
    }

    @Test
    void cniConflistAsFlannelsPluginFillsIt() throws IOException {
        assertThat(output(ENV, "cni-conf")).isEqualTo("""
            {
              "cniVersion": "1.0.0",
              "name": "overlay",
              "plugins": [
                {
                  "type": "bridge",
                  "bridge": "cni0",
                  "isGateway": true,
                  "ipMasq": true,
                  "mtu": 1472,
                  "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "100.64.5.0/24"}]],
                    "routes": [{"dst": "100.64.0.0/16"}]
                  }
                }
              ]
            }
            """);
    }

    @Test
    void cniConflistOptionsAndMasqueradeByTheOverlay() throws IOException {
        final String json = output(ENV_MASQ, "cni-conf", "--name", "pods", "--bridge", "cbr0", "--cni-version",
            "0.4.0", "--ipam-data-dir", "/tmp/ipam");
        assertThat(json).contains("\"cniVersion\": \"0.4.0\"", "\"name\": \"pods\"", "\"bridge\": \"cbr0\"",
            "\"ipMasq\": false,", "\"mtu\": 1450,", "\"dataDir\": \"/tmp/ipam\",",
            "[[{\"subnet\": \"10.10.16.0/24\"}]]", "[{\"dst\": \"10.10.0.0/16\"}]");
        assertThat(run(ENV, "cni-conf", "--name", "a\"b")).isEqualTo(RuntimeConfigCommand.FAILED);
        assertThat(err.toString()).contains("--name must not hold quotes");
    }

    @Test
    void missingFileIsRefusedNamingIt() {
        final Path missing = dir.resolve("nope/subnet.env");
        for (String cmd : List.of("lxc-net", "docker-opts", "cni-conf")) {
            err.getBuffer().setLength(0);
            final CommandLine cl = OverlayMain.commandLine(Map.of());
            cl.setOut(new PrintWriter(out, true));
            cl.setErr(new PrintWriter(err, true));
            assertThat(cl.execute(cmd, "--subnet-file", missing.toString())).isEqualTo(RuntimeConfigCommand.FAILED);
            assertThat(err.toString()).isEqualTo("overlay " + cmd + ": " + missing + " does not exist (is overlay "
                + "running with --subnet-file " + missing + "?)" + System.lineSeparator());
        }
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void subnetFileDefaultsToFlannelsPath() {
        final CommandLine cl = OverlayMain.commandLine(Map.of());
        final CommandLine.ParseResult r = cl.parseArgs("cni-conf");
        assertThat(((RuntimeConfigCommand) r.subcommand().commandSpec().userObject()).subnetFile)
            .isEqualTo(Path.of("/run/flannel/subnet.env"));
    }

    @Test
    void malformedFilesAreRefusedSayingWhatIsWrong() throws IOException {
        final Map<String, String> cases = Map.of(
            "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.5.1/24\nFLANNEL_MTU=1472\n",
            "subnet.env: FLANNEL_IPMASQ missing",
            "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.5.1\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n",
            "subnet.env line 2: FLANNEL_SUBNET: not an IPv4 CIDR: \"100.64.5.1\"",
            "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.65.5.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n",
            "subnet.env line 2: FLANNEL_SUBNET=100.65.5.1/24 is not inside FLANNEL_NETWORK=100.64.0.0/16",
            "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.5.0/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n",
            "subnet.env line 2: FLANNEL_SUBNET=100.64.5.0/24 must name a host address",
            "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.5.1/24\nFLANNEL_MTU=big\nFLANNEL_IPMASQ=false\n",
            "subnet.env line 3: FLANNEL_MTU=big is not a number of bytes",
            "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.5.1/24\nFLANNEL_MTU=40\nFLANNEL_IPMASQ=false\n",
            "subnet.env line 3: FLANNEL_MTU=40 is outside 68..65535",
            "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.5.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=yes\n",
            "subnet.env line 4: FLANNEL_IPMASQ=yes is neither true nor false",
            "FLANNEL_NETWORK=100.64.0.1/16\nFLANNEL_SUBNET=100.64.5.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n",
            "subnet.env line 1: FLANNEL_NETWORK: host bits set",
            "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.5.1/24\nFLANNEL_SUBNET=100.64.6.1/24\n",
            "subnet.env line 3: FLANNEL_SUBNET repeats line 2",
            "# comment\nFLANNEL_NETWORK=100.64.0.0/16\n", "subnet.env line 1: is not KEY=value: \"# comment\"");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            for (String cmd : List.of("lxc-net", "docker-opts", "cni-conf")) {
                err.getBuffer().setLength(0);
                assertThat(run(c.getKey(), cmd)).as(c.getValue()).isEqualTo(RuntimeConfigCommand.FAILED);
                assertThat(err.toString()).startsWith("overlay " + cmd + ": " + dir.resolve(c.getValue()));
            }
        }
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void ipv6LinesAreIgnoredAsFlannelsPluginDoes() throws IOException {
        final String env = "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.5.1/24\n"
            + "FLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_IPV6_SUBNET=fd00:0:0:5::1/64\nFLANNEL_MTU=1472\n"
            + "FLANNEL_IPMASQ=false\n";
        assertThat(output(env, "docker-opts")).contains("DOCKER_OPTS=\" --bip=100.64.5.1/24 --mtu=1472 \"");
    }

    @Test
    void outputFileIsWrittenAtomicallyAndKeptOnFailure() throws IOException {
        final Path target = dir.resolve("etc/docker/daemon.json");
        assertThat(output(ENV, "docker-opts", "--format", "daemon-json", "-o", target.toString())).isEmpty();
        assertThat(Files.readString(target)).isEqualTo("{\n  \"bip\": \"100.64.5.1/24\",\n  \"mtu\": 1472\n}\n");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(target))).isEqualTo("rw-r--r--");
        assertThat(run("FLANNEL_NETWORK=x\n", "docker-opts", "--format", "daemon-json", "-o", target.toString()))
            .isEqualTo(RuntimeConfigCommand.FAILED);
        assertThat(Files.readString(target)).contains("\"mtu\": 1472");
        try (var files = Files.list(target.getParent())) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("daemon.json");
        }
    }
}
