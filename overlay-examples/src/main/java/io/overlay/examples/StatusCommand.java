package io.overlay.examples;

import com.fasterxml.jackson.databind.JsonNode;
import io.overlay.core.json.JsonTrees;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.Map;
import java.util.StringJoiner;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/**
 * {@code overlay status}: asks a running overlay's {@code /status} ({@link StatusJson}) and prints it as a table, the
 * way {@code wg show} prints a WireGuard interface: the interface and lease first, then one block per peer. Exit
 * status 0 when the overlay is ready, 1 otherwise (not ready, nothing listening, an answer that is not a status).
 * Connect timeout 2 s, whole request 5 s.
 *
 * <pre>
 * interface: flannel0
 *   state: ready
 *   lease: 100.64.5.0/24, expires in 23h 59m 12s
 *   public ip: 198.18.0.1
 *   ...
 *
 * peer: 198.18.0.2:8285
 *   subnet: 100.64.7.0/24
 *   changed: 2026-11-29T22:01:15.123Z (48s ago)
 * </pre>
 */
@Command(name = "status", mixinStandardHelpOptions = true, versionProvider = OverlayVersion.class,
    description = {"Query /status of a running overlay and print it as a table.",
        "Exit status 0 when ready, 1 when not ready or unreachable."})
public final class StatusCommand implements Callable<Integer> {
    private static final Map<String, String> OFFLOAD_NAMES = Map.of("tunVnetHeader", "tun vnet header (TSO, "
        + "coalescing)", "udpGso", "udp gso", "udpGro", "udp gro");

    @Spec
    private CommandSpec spec;

    @Mixin
    private HealthzTarget target;

    @Override
    public Integer call() {
        final PrintWriter out = spec.commandLine().getOut();
        final PrintWriter err = spec.commandLine().getErr();
        final Optional<URI> where = target.uri("overlay status", "/status", err);
        if (where.isEmpty()) {
            return HealthCommand.NOT_READY;
        }
        final URI uri = where.get();
        final JsonNode status;
        try {
            status = fetch(uri);
        } catch (IOException e) {
            err.println("overlay status: cannot read " + uri + ": " + e.getMessage());
            err.flush();
            return HealthCommand.NOT_READY;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return HealthCommand.NOT_READY;
        }
        out.print(table(status, Instant.now()));
        out.flush();
        return status.path("ready").asBoolean(false) ? HealthCommand.READY : HealthCommand.NOT_READY;
    }

    private static JsonNode fetch(final URI uri) throws IOException, InterruptedException {
        final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2))
            .version(HttpClient.Version.HTTP_1_1).build();
        final HttpResponse<String> rsp = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5))
            .GET().build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        if (rsp.statusCode() != 200) {
            throw new IOException("HTTP " + rsp.statusCode() + " (is it an overlay with /status?)");
        }
        final JsonNode node = JsonTrees.read(rsp.body());
        if (!node.has("ready")) {
            throw new IOException("the answer is not an overlay status");
        }
        return node;
    }

    /**
     * Renders a {@code /status} object as the table.
     *
     * @param s the parsed status
     * @param now the time "ago" and "expires in" are counted from
     * @return the table, lines ending in {@code \n}
     */
    static String table(final JsonNode s, final Instant now) {
        final StringBuilder b = new StringBuilder();
        b.append("interface: ").append(text(s, "interface")).append('\n');
        row(b, "state", s.path("ready").asBoolean() ? "ready" : "not ready: " + s.path("reason").asText());
        final JsonNode lease = s.path("lease");
        if (!lease.path("subnet").isNull() && !lease.path("subnet").isMissingNode()) {
            final JsonNode left = lease.path("remainingSeconds");
            row(b, "lease", lease.path("subnet").asText() + (lease.path("reservation").asBoolean() ? ", reservation"
                : left.isNumber() ? ", expires in " + duration(left.asLong()) : ""));
            row(b, "public ip", lease.path("publicIp").asText());
        } else {
            row(b, "lease", "none");
        }
        if (lease.path("lost").asLong() > 0) {
            row(b, "lease lost", lease.path("lost").asLong() + " times, re-acquired " + lease.path("reacquired")
                .asLong() + " times");
        }
        row(b, "network", text(s, "network"));
        row(b, "mtu", text(s, "mtu"));
        if (!s.path("bridge").isNull() && s.has("bridge")) {
            row(b, "bridge", s.path("bridge").asText());
        }
        final StringJoiner offloads = new StringJoiner(", ");
        offloads.setEmptyValue("none");
        s.path("offloads").fields().forEachRemaining(o -> {
            if (o.getValue().asBoolean()) {
                offloads.add(OFFLOAD_NAMES.getOrDefault(o.getKey(), o.getKey()));
            }
        });
        row(b, "offloads", offloads.toString());
        final JsonNode enc = s.path("encryption");
        if (enc.isObject() && !"off".equals(enc.path("mode").asText("off"))) {
            row(b, "encryption", enc.path("mode").asText() + ", public key " + enc.path("publicKey").asText());
            for (JsonNode u : enc.path("unreachable")) {
                row(b, "unreachable", u.asText());
            }
            if (!enc.path("unreachable").isArray() && enc.path("peersWithoutKey").size() > 0) {
                final StringJoiner clear = new StringJoiner(", ");
                enc.path("peersWithoutKey").forEach(p -> clear.add(p.asText()));
                row(b, "clear text to", clear.toString());
            }
        }
        final JsonNode etcd = s.path("etcd");
        final StringJoiner endpoints = new StringJoiner(", ");
        etcd.path("endpoints").forEach(e -> endpoints.add(e.asText()));
        row(b, "etcd", endpoints + " (" + etcd.path("state").asText("unknown") + "; " + etcd.path("renewals").asLong()
            + " renewals, " + etcd.path("watchResets").asLong() + " watch resets, " + etcd.path("relists").asLong()
            + " re-lists, " + etcd.path("errors").asLong() + " errors)");
        final JsonNode c = s.path("counters");
        row(b, "transfer", bytes(c.path("UDP_TO_TUN_BYTES").asLong()) + " received ("
            + c.path("UDP_TO_TUN_PACKETS").asLong() + " packets), " + bytes(c.path("TUN_TO_UDP_BYTES").asLong())
            + " sent (" + c.path("TUN_TO_UDP_PACKETS").asLong() + " packets)");
        final StringJoiner drops = new StringJoiner(", ");
        drops.setEmptyValue("none");
        for (Iterator<Map.Entry<String, JsonNode>> it = c.path("drops").fields(); it.hasNext(); ) {
            final Map.Entry<String, JsonNode> d = it.next();
            if (d.getValue().asLong() > 0) {
                drops.add(d.getValue().asLong() + " " + d.getKey());
            }
        }
        row(b, "drops", drops.toString());
        for (JsonNode p : s.path("peers")) {
            b.append('\n').append("peer: ").append(p.path("publicIp").asText()).append(':')
                .append(p.path("port").asText()).append('\n');
            row(b, "subnet", p.path("subnet").asText());
            final JsonNode changed = p.path("changedAt");
            row(b, "changed", changed.isTextual() ? changed.asText() + " ("
                + duration(Duration.between(Instant.parse(changed.asText()), now).toSeconds()) + " ago)"
                : "before this process started watching");
        }
        return b.toString();
    }

    private static String text(final JsonNode s, final String field) {
        final JsonNode n = s.path(field);
        return n.isNull() || n.isMissingNode() ? "none" : n.asText();
    }

    private static void row(final StringBuilder b, final String name, final String value) {
        b.append("  ").append(name).append(": ").append(value).append('\n');
    }

    /** {@code 1d 2h 3m 4s}, leading zero units left out; {@code 0s} for zero or less. */
    static String duration(final long seconds) {
        if (seconds <= 0) {
            return "0s";
        }
        final StringBuilder b = new StringBuilder();
        final long[] units = {86400, 3600, 60, 1};
        final String[] names = {"d", "h", "m", "s"};
        long left = seconds;
        for (int i = 0; i < units.length; i++) {
            if (left >= units[i] || (b.length() > 0)) {
                b.append(b.length() > 0 ? " " : "").append(left / units[i]).append(names[i]);
                left %= units[i];
            }
        }
        return b.toString();
    }

    /** Bytes in binary units as {@code wg show} prints them: {@code 1.50 KiB}, {@code 12 B}. */
    static String bytes(final long n) {
        final String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? n + " B" : String.format(java.util.Locale.ROOT, "%.2f %s", v, units[u]);
    }
}
