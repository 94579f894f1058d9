package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.DropReason;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import io.overlay.tun.NetnsThread;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * What an operator sees of a running overlay, on two hosts as in {@link EndToEndTest} (etcd in an infra namespace
 * owning the underlay bridge, each host an {@link OverlayMain} process in its own namespace): the counters in
 * {@code /metrics} follow a bounded ping and an iperf3 run, a crafted bad datagram from a known peer's address moves
 * exactly its drop reason, {@code promtool check metrics} accepts the page, {@code /status} and
 * {@code overlay status} list the peer, and every stderr line of the host run with {@code --log-format=json} is a
 * JSON object. The hosts are {@link OverlayHosts}'; logs go to {@code target/e2e-observability/}.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ObservabilityEndToEndTest {
    private static final int HEALTH_PORT = OverlayHosts.HEALTH_PORT;
    private static final int PINGS = 20;
    /** An ICMP echo of ping's default 56 data bytes: 20 IPv4 + 8 ICMP + 56. */
    private static final int PING_PACKET_BYTES = 84;
    private static final Pattern SAMPLE = Pattern.compile("(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{[^}]*})?) (\\S+)$");
    private static final ObjectMapper JSON = new ObjectMapper();

    private OverlayHosts overlay;
    private final Netns[] hosts = new Netns[3];
    private final Process[] processes = new Process[3];
    private Path logs;

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        overlay = OverlayHosts.start("e2e-observability", 2, h -> h == 2 ? List.of("--log-format=json") : List.of());
        logs = overlay.logs();
        for (OverlayHosts.Host h : overlay.hosts()) {
            hosts[h.n()] = h.ns();
            processes[h.n()] = h.process();
        }
        for (int h = 1; h <= 2; h++) {
            final int host = h;
            OverlayHosts.await("h" + h + " knows its peer", Duration.ofSeconds(60), () -> {
                final JsonNode s = status(host);
                return s != null && s.path("ready").asBoolean() && s.path("peers").size() == 1;
            });
        }
    }

    @AfterAll
    void tearDown() {
        if (overlay != null) {
            overlay.close();
        }
    }

    private static List<String> java(final String mainClass, final String... args) {
        return OverlayHosts.java(mainClass, args);
    }

    /** GETs a page of host {@code h}'s health server ({@link OverlayHosts#get}). */
    private String get(final int h, final String path) throws Exception {
        return OverlayHosts.get(overlay.hosts().stream().filter(x -> x.n() == h).findFirst().orElseThrow(), path);
    }

    private JsonNode status(final int h) throws Exception {
        final String body = get(h, "/status");
        return body == null ? null : JSON.readTree(body);
    }

    /** Every sample of host {@code h}'s /metrics: series (name with labels) to value. */
    private Map<String, Double> metrics(final int h) throws Exception {
        final String body = get(h, "/metrics");
        assertThat(body).as("/metrics of h%d", h).isNotNull();
        final Map<String, Double> samples = new HashMap<>();
        final Matcher m = SAMPLE.matcher(body);
        while (m.find()) {
            samples.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        return samples;
    }

    private static long delta(final Map<String, Double> before, final Map<String, Double> after, final String series) {
        assertThat(after).as("series %s", series).containsKey(series);
        return Math.round(after.get(series) - before.getOrDefault(series, 0.0));
    }

    private static String drops(final DropReason r) {
        return "overlay_drops_total{reason=\"" + r.name().toLowerCase(Locale.ROOT) + "\"}";
    }

    private static long allDrops(final Map<String, Double> before, final Map<String, Double> after) {
        long sum = 0;
        for (DropReason r : DropReason.values()) {
            sum += delta(before, after, drops(r));
        }
        return sum;
    }

    /** Datagrams the kernel dropped for a full receive buffer in host {@code h}'s namespace (/proc/net/snmp). */
    private long udpReceiveErrors(final int h) throws IOException {
        final List<String> udp = hosts[h].exec("cat", "/proc/net/snmp").lines().filter(l -> l.startsWith("Udp: "))
            .toList();
        final List<String> names = List.of(udp.get(0).split("\\s+"));
        final String[] values = udp.get(1).split("\\s+");
        return Long.parseLong(values[names.indexOf("RcvbufErrors")]);
    }

    private String tunAddressOf(final int h) throws Exception {
        final String subnet = status(h).path("lease").path("subnet").asText();
        return FlannelRules.tunAddress(Ipv4Prefix.parse(subnet)).toString().replace("/32", "");
    }

    @Test
    @Order(1)
    void aBoundedPingMovesThePacketCountersByExactlyItsPackets() throws Exception {
        final Map<String, Double> before1 = metrics(1);
        final Map<String, Double> before2 = metrics(2);
        hosts[1].exec("ping", "-c", Integer.toString(PINGS), "-i", "0.05", "-W", "2", "-q", tunAddressOf(2));
        final Map<String, Double> after1 = metrics(1);
        final Map<String, Double> after2 = metrics(2);
        // h1 sends the echo requests and receives the replies; h2 the other way round. Nothing else crosses.
        assertThat(delta(before1, after1, "overlay_tun_to_udp_packets_total")).isEqualTo(PINGS);
        assertThat(delta(before1, after1, "overlay_tun_to_udp_bytes_total")).isEqualTo(PINGS * PING_PACKET_BYTES);
        assertThat(delta(before1, after1, "overlay_udp_to_tun_packets_total")).isEqualTo(PINGS);
        assertThat(delta(before1, after1, "overlay_udp_to_tun_bytes_total")).isEqualTo(PINGS * PING_PACKET_BYTES);
        assertThat(delta(before2, after2, "overlay_udp_to_tun_packets_total")).isEqualTo(PINGS);
        assertThat(delta(before2, after2, "overlay_tun_to_udp_packets_total")).isEqualTo(PINGS);
        assertThat(after1.get("overlay_peers")).isEqualTo(1.0);
        assertThat(after1.get("overlay_ready")).isEqualTo(1.0);
        assertThat(after1.get("overlay_lease_remaining_seconds")).isBetween(23 * 3600.0, 24 * 3600.0);
    }

    @Test
    @Order(2)
    void anIperf3RunArrivesAsSentExceptWhatIsCountedAsLost() throws Exception {
        final String server = tunAddressOf(2);
        final Process iperf = hosts[2].spawn(new ProcessBuilder("iperf3", "-s", "-1", "-B", server)
            .redirectErrorStream(true).redirectOutput(logs.resolve("iperf3-server.log").toFile()));
        final Map<String, Double> before1 = metrics(1);
        final Map<String, Double> before2 = metrics(2);
        final long lost1 = udpReceiveErrors(1);
        final long lost2 = udpReceiveErrors(2);
        String report = null;
        for (int attempt = 0; report == null; attempt++) {
            try {
                report = hosts[1].exec("iperf3", "-c", server, "-t", "2", "-J");
            } catch (IOException notListeningYet) {
                if (attempt == 20) {
                    throw notListeningYet;
                }
                Thread.sleep(250);
            }
        }
        iperf.waitFor(10, TimeUnit.SECONDS);
        Thread.sleep(500); // the last ACKs
        final Map<String, Double> after1 = metrics(1);
        final Map<String, Double> after2 = metrics(2);
        final long sentBytes = JSON.readTree(report).path("end").path("sum_sent").path("bytes").asLong();
        assertThat(sentBytes).isPositive();
        // Every packet h1 sent is received by h2, dropped by h2 (counted), or lost in h2's socket buffer.
        final long sent1 = delta(before1, after1, "overlay_tun_to_udp_packets_total");
        assertThat(sent1).isEqualTo(delta(before2, after2, "overlay_udp_to_tun_packets_total")
            + allDrops(before2, after2) + udpReceiveErrors(2) - lost2);
        final long sent2 = delta(before2, after2, "overlay_tun_to_udp_packets_total");
        assertThat(sent2).isEqualTo(delta(before1, after1, "overlay_udp_to_tun_packets_total")
            + allDrops(before1, after1) + udpReceiveErrors(1) - lost1);
        // The inner packets carry the stream plus the TCP/IP headers of every segment.
        assertThat(delta(before1, after1, "overlay_tun_to_udp_bytes_total")).isGreaterThan(sentBytes);
        assertThat(sent1).isGreaterThan(sentBytes / 1472);
    }

    @Test
    @Order(3)
    void aBadDatagramFromAKnownPeerMovesExactlyItsDropReason() throws Exception {
        final Map<String, Double> before = metrics(1);
        // An IPv4 header whose total length (100) is not the 20 bytes that arrive, from h2's PublicIP.
        final byte[] inner = new byte[20];
        inner[0] = 0x45;
        inner[3] = 100;
        inner[8] = 64;
        inner[9] = 1;
        NetnsThread.call(hosts[2].name(), () -> {
            try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getByName("198.18.0.2"), 0))) {
                s.send(new DatagramPacket(inner, inner.length, InetAddress.getByName("198.18.0.1"),
                    FlannelRules.DEFAULT_PORT));
            }
            return null;
        });
        OverlayHosts.await("the drop counted", Duration.ofSeconds(10),
            () -> delta(before, metrics(1), drops(DropReason.BAD_TOTAL_LENGTH)) > 0);
        final Map<String, Double> after = metrics(1);
        for (DropReason r : DropReason.values()) {
            assertThat(delta(before, after, drops(r))).as("drops of %s", r)
                .isEqualTo(r == DropReason.BAD_TOTAL_LENGTH ? 1 : 0);
        }
        assertThat(delta(before, after, "overlay_udp_to_tun_packets_total")).isZero();
    }

    @Test
    @Order(4)
    void promtoolAcceptsTheMetricsPage() throws Exception {
        final Path page = logs.resolve("metrics.prom");
        Files.writeString(page, get(1, "/metrics"));
        assertThat(Files.readString(page)).contains("overlay_build_info{version=", "jvm_memory_used_bytes",
            "process_cpu_usage");
        final Process p = new ProcessBuilder("sh", "-c", "promtool check metrics < " + page).redirectErrorStream(true)
            .start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("promtool check metrics said:\n%s", out).isZero();
    }

    @Test
    @Order(5)
    void statusListsThePeerAndTheStatusCommandPrintsIt() throws Exception {
        final JsonNode s1 = status(1);
        final JsonNode s2 = status(2);
        final String peerSubnet = s2.path("lease").path("subnet").asText();
        assertThat(s1.path("ready").asBoolean()).isTrue();
        assertThat(s1.path("interface").asText()).isEqualTo("flannel0");
        assertThat(s1.path("mtu").asInt()).isEqualTo(1472);
        assertThat(s1.path("lease").path("publicIp").asText()).isEqualTo("198.18.0.1");
        assertThat(s1.path("etcd").path("endpoints").get(0).asText()).isEqualTo(OverlayHosts.ETCD);
        assertThat(s1.path("etcd").path("state").asText()).isEqualTo("running");
        final JsonNode peer = s1.path("peers").get(0);
        assertThat(peer.path("subnet").asText()).isEqualTo(peerSubnet);
        assertThat(peer.path("publicIp").asText()).isEqualTo("198.18.0.2");
        assertThat(peer.path("changedAt").isTextual()).isTrue();

        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", hosts[1].name()));
        cmd.addAll(java(OverlayMain.class.getName(), "status", "--healthz-port", Integer.toString(HEALTH_PORT)));
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("overlay status printed:\n%s", out).isZero();
        assertThat(out).contains("interface: flannel0", "state: ready", "peer: 198.18.0.2:8285",
            "subnet: " + peerSubnet, "public ip: 198.18.0.1");
    }

    @Test
    @Order(5)
    void withoutABridgeTheHealthLineNamesTheTunAndTheAddressItHolds() throws Exception {
        final String line = status(1).path("healthLine").asText();
        // what the kernel says flannel0 holds, e.g. "100.64.7.0/32"
        final String held = hosts[1].exec("ip", "-4", "-o", "addr", "show", "dev", "flannel0").trim()
            .replaceAll(".* inet (\\S+) .*", "$1");
        final String subnetEnv = Files.readString(overlay.hosts().get(0).subnetEnv());
        final String flannelSubnet = subnetEnv.replaceAll("(?s).*FLANNEL_SUBNET=(\\S+).*", "$1");
        assertThat(held).endsWith("/32");
        assertThat(line).isEqualTo("ready flannel0:" + held + " subnet:" + flannelSubnet + " mtu:1472");
        assertThat(get(1, "/readyz")).isEqualTo(line + "\n");
    }

    @Test
    @Order(6)
    void everyStderrLineOfTheJsonHostIsAJsonObject() throws Exception {
        processes[2].destroy(); // SIGTERM
        assertThat(processes[2].waitFor(30, TimeUnit.SECONDS)).isTrue();
        // OverlayMain writes only logs, all on stderr; the fixture's log holds stdout and stderr together.
        final List<String> lines = Files.readAllLines(logs.resolve("h2.log"));
        assertThat(lines).isNotEmpty();
        for (String line : lines) {
            final JsonNode n = JSON.readTree(line);
            assertThat(n.isObject()).as("line %s", line).isTrue();
            assertThat(n.path("time").asText()).as("line %s", line).isNotEmpty();
            assertThat(n.path("level").asText()).as("line %s", line).isIn("TRACE", "DEBUG", "INFO", "WARN", "ERROR");
            assertThat(n.path("logger").asText()).as("line %s", line).isNotEmpty();
            assertThat(n.has("message")).as("line %s", line).isTrue();
        }
        assertThat(lines).anySatisfy(l -> assertThat(JSON.readTree(l).path("message").asText())
            .isEqualTo("Exiting cleanly"));
    }
}
