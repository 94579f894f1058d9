package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.overlay.core.net.Ipv4;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * CNI for real: two overlay hosts ({@link OverlayHosts}), each with the conflist {@code overlay cni-conf} made from its
 * {@code subnet.env}, and Debian's {@code containernetworking-plugins} ({@code /usr/lib/cni/bridge} with
 * {@code host-local}) run inside the host namespace as a CNI runtime runs them (CNI spec 1.0: {@code CNI_COMMAND},
 * {@code CNI_CONTAINERID}, {@code CNI_NETNS}, {@code CNI_IFNAME}, {@code CNI_PATH}, the plugin's configuration with
 * the list's {@code name} and {@code cniVersion} on standard input). Two containers (namespaces) per host get their
 * addresses from host-local, ping every container on the other host, send full-MTU packets with DF set, and DEL
 * removes their interface, address reservation and masquerade rules. Host 2 runs with {@code --ip-masq}, so the
 * conflist's {@code ipMasq} is checked both ways: the bridge plugin masquerades on host 1 only.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class CniRuntimeTest {
    private static final Path CNI_PATH = Path.of("/usr/lib/cni");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CONTAINERS = 2;

    private OverlayHosts overlay;
    private final Map<String, Container> containers = new TreeMap<>();

    /** A container namespace and what its ADD returned. */
    private record Container(String id, OverlayHosts.Host host, Netns ns, JsonNode result, String address) {
    }

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        // h2 masquerades itself (FLANNEL_IPMASQ=true), so the conflist's ipMasq is checked both ways
        overlay = OverlayHosts.start("cni", 2, h -> h == 2 ? List.of("--ip-masq") : List.of());
        for (OverlayHosts.Host h : overlay.hosts()) {
            final int status = OverlayMain.commandLine(Map.of()).execute("cni-conf", "--subnet-file",
                h.subnetEnv().toString(), "--ipam-data-dir", h.dir().resolve("ipam").toString(),
                "-o", conflist(h).toString());
            assertThat(status).as("cni-conf for h%d", h.n()).isZero();
            for (int c = 1; c <= CONTAINERS; c++) {
                final String id = "h" + h.n() + "c" + c;
                final Netns ns = overlay.track(Netns.create());
                final JsonNode result = cni(h, "ADD", id, ns);
                final String address = result.at("/ips/0/address").asText();
                containers.put(id, new Container(id, h, ns, result, address.substring(0, address.indexOf('/'))));
            }
        }
    }

    @AfterAll
    void tearDown() {
        if (overlay != null) {
            overlay.close();
        }
    }

    private static Path conflist(final OverlayHosts.Host h) {
        return h.dir().resolve("overlay.conflist");
    }

    /**
     * Runs the list's plugins for one container as a CNI runtime does: ADD in list order (each later plugin gets
     * the previous result as prevResult), DEL in reverse order.
     */
    private JsonNode cni(final OverlayHosts.Host h, final String command, final String id, final Netns ns)
        throws Exception {
        final JsonNode list = JSON.readTree(conflist(h).toFile());
        final List<JsonNode> plugins = new ArrayList<>();
        list.get("plugins").forEach(plugins::add);
        if (command.equals("DEL")) {
            java.util.Collections.reverse(plugins);
        }
        JsonNode result = null;
        for (JsonNode p : plugins) {
            final ObjectNode conf = ((ObjectNode) p.deepCopy()).put("name", list.get("name").asText())
                .put("cniVersion", list.get("cniVersion").asText());
            if (result != null && command.equals("ADD")) {
                conf.set("prevResult", result);
            }
            final String out = plugin(h, command, id, ns, conf);
            if (command.equals("ADD")) {
                result = JSON.readTree(out);
            }
        }
        return result;
    }

    private String plugin(final OverlayHosts.Host h, final String command, final String id, final Netns ns,
                          final ObjectNode conf) throws Exception {
        final Path binary = CNI_PATH.resolve(conf.get("type").asText());
        final ProcessBuilder pb = new ProcessBuilder("ip", "netns", "exec", h.ns().name(), binary.toString());
        pb.environment().putAll(Map.of("CNI_COMMAND", command, "CNI_CONTAINERID", id,
            "CNI_NETNS", "/var/run/netns/" + ns.name(), "CNI_IFNAME", "eth0", "CNI_PATH", CNI_PATH.toString()));
        final Process p = pb.redirectError(ProcessBuilder.Redirect.appendTo(
            overlay.logs().resolve("plugins.log").toFile())).start();
        try (OutputStream in = p.getOutputStream()) {
            in.write(JSON.writeValueAsBytes(conf));
        }
        final byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(binary + " " + command + " timed out");
        }
        final String text = new String(out, StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as("%s %s %s: %s", binary, command, id, text).isZero();
        return text;
    }

    @Test
    @Order(1)
    void addressesComeFromTheHostsSubnetThroughHostLocal() throws Exception {
        for (Container c : containers.values()) {
            final HostSubnet s = c.host().subnet();
            assertThat(s.subnet().contains(Ipv4.parse(c.address()))).as("%s %s in %s", c.id(), c.address(),
                s.subnet()).isTrue();
            assertThat(c.result().at("/ips/0/address").asText()).endsWith("/" + s.subnet().length());
            assertThat(c.result().at("/ips/0/gateway").asText()).isEqualTo(Ipv4.format(s.gateway()));
            assertThat(c.result().get("routes").toString()).contains("{\"dst\":\"" + s.network() + "\"}");
            // what the kernel has is what the plugins were told
            assertThat(c.ns().exec("ip", "-4", "-o", "addr", "show", "dev", "eth0"))
                .contains("inet " + c.address() + "/" + s.subnet().length());
            assertThat(c.ns().exec("ip", "-o", "link", "show", "dev", "eth0")).contains(" mtu " + s.mtu() + " ");
            assertThat(c.ns().exec("ip", "-4", "route", "show", s.network().toString()))
                .contains("via " + Ipv4.format(s.gateway()));
            assertThat(c.host().ns().exec("ip", "-4", "-o", "addr", "show", "dev", "cni0"))
                .contains("inet " + s.gatewayCidr());
            assertThat(c.host().ns().exec("ip", "-o", "link", "show", "dev", "cni0")).contains(" mtu " + s.mtu() + " ");
            // host-local recorded the address under the network's name in the configured dataDir
            assertThat(Files.readString(c.host().dir().resolve("ipam/overlay").resolve(c.address())))
                .startsWith(c.id());
        }
        assertThat(containers.values().stream().map(Container::address).distinct()).hasSize(containers.size());
        for (OverlayHosts.Host h : overlay.hosts()) {
            // ipMasq as flannel's CNI plugin sets it: the bridge plugin masquerades iff the overlay does not
            final boolean overlayMasquerades = h.subnet().ipMasq();
            assertThat(overlayMasquerades).as("FLANNEL_IPMASQ of h%d", h.n()).isEqualTo(h.n() == 2);
            final String nat = h.ns().exec("iptables", "-t", "nat", "-S", "POSTROUTING");
            for (Container c : containers.values()) {
                if (c.host() == h) {
                    final long rules = nat.lines().filter(l -> l.startsWith("-A POSTROUTING -s " + c.address()
                        + "/32 ") && l.contains(" -j CNI-")).count();
                    assertThat(rules).as("h%d's CNI masquerade rules for %s (ipMasq %s): %s", h.n(), c.id(),
                        !overlayMasquerades, nat).isEqualTo(overlayMasquerades ? 0 : 1);
                }
            }
        }
    }

    @Test
    @Order(2)
    void everyContainerPingsEveryContainerOnTheOtherHost() throws Exception {
        for (Container a : containers.values()) {
            for (Container b : containers.values()) {
                if (a.host() != b.host()) {
                    awaitPing(a, b.address(), 56);
                }
            }
        }
    }

    @Test
    @Order(3)
    void fullMtuPacketsWithDontFragmentCrossBothWays() throws Exception {
        final Container a = containers.get("h1c1");
        final Container b = containers.get("h2c1");
        final int mtu = a.host().subnet().mtu();
        assertThat(b.host().subnet().mtu()).isEqualTo(mtu);
        awaitPing(a, b.address(), mtu - 28);
        awaitPing(b, a.address(), mtu - 28);
        final Object[] tooBig = OverlayHosts.runStatus(Duration.ofSeconds(10), "ip", "netns", "exec",
            a.ns().name(), "ping", "-M", "do", "-c", "1", "-W", "1", "-s", Integer.toString(mtu - 27), b.address());
        assertThat((int) tooBig[0]).as("one byte over the MTU with DF: %s", tooBig[1]).isNotZero();
    }

    private static void awaitPing(final Container from, final String to, final int size) throws Exception {
        final String[] last = {""};
        try {
            OverlayHosts.await(from.id() + " -> " + to + " (" + size + " bytes, DF)", Duration.ofSeconds(30), () -> {
                final Object[] r = OverlayHosts.runStatus(Duration.ofSeconds(5), "ip", "netns", "exec",
                    from.ns().name(), "ping", "-M", "do", "-c", "1", "-W", "1", "-s", Integer.toString(size), to);
                last[0] = (String) r[1];
                return (int) r[0] == 0;
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; last ping: " + last[0], e);
        }
    }

    @Test
    @Order(4)
    void delRemovesInterfaceReservationAndRules() throws Exception {
        for (Container c : containers.values()) {
            cni(c.host(), "DEL", c.id(), c.ns());
            assertThat(c.ns().exec("ip", "-o", "link", "show")).doesNotContain("eth0");
            assertThat(c.host().dir().resolve("ipam/overlay").resolve(c.address())).doesNotExist();
            // DEL twice is fine (CNI spec: DEL of something gone succeeds)
            cni(c.host(), "DEL", c.id(), c.ns());
        }
        for (OverlayHosts.Host h : overlay.hosts()) {
            assertThat(h.ns().exec("ip", "-o", "link", "show", "master", "cni0")).isBlank();
            assertThat(h.ns().exec("iptables", "-t", "nat", "-S", "POSTROUTING")).doesNotContain("CNI-");
        }
    }

}
