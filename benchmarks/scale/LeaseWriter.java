// The etcd side of benchmarks/scale-bench.sh: writes fake peer leases in flannel's format and prints when each write
// was sent, so the script can compare with the agent's log. Run as a single-file program with overlay.jar on the
// class path (it speaks etcd's v3 JSON gateway, POST /v3/..., with the JDK's HTTP client, as the agent does, and
// reads the answers with the Jackson inside the jar):
//
//   java -cp overlay.jar LeaseWriter.java ENDPOINT prefill N
//   java -cp overlay.jar LeaseWriter.java ENDPOINT churn FIRST COUNT INTERVAL_MS   deletes, then re-adds
//   java -cp overlay.jar LeaseWriter.java ENDPOINT burst FIRST COUNT               deletes COUNT, changes COUNT more
//   java -cp overlay.jar LeaseWriter.java ENDPOINT compact
//
// Lease i is the key <prefix>/subnets/100.(64 + i/256).(i%256).0-24 of the /10 Network 100.64.0.0/10 (SubnetLen 24
// holds i = 0..16383), value {"PublicIP":"198.19.(i/250).(i%250+1)","PublicIPv6":null} as flanneld's udp backend
// writes it, attached to one etcd lease of 24 h. PublicIPs in 198.19.0.0/16 are on no interface: nothing is sent.
// Output lines: "del|add|chg SUBNET SENT [ACKED]": milliseconds since 00:00 UTC when the write was sent and when etcd
// acknowledged it (churn only).

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

public final class LeaseWriter {
    private static final String PREFIX = "/coreos.com/network/subnets/";
    private static final int TXN_OPS = 1000; // scale-bench.sh starts etcd with --max-txn-ops above this
    private static final ObjectMapper JSON = new ObjectMapper();

    // HTTP/1.1 as the agent's client: etcd serves the gateway on it everywhere; requests go one at a time on one
    // connection, opened by the lease grant before any timed write
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10)).build();
    private static URI endpoint;

    private LeaseWriter() {
    }

    static String subnet(final int i) {
        return "100." + (64 + i / 256) + "." + (i % 256) + ".0/24";
    }

    /** The key of lease i, in base64 as the gateway takes bytes. */
    static String key(final int i) {
        return b64(PREFIX + subnet(i).replace('/', '-'));
    }

    /** The value of lease i, in base64. */
    static String value(final int i, final int bump) {
        return b64("{\"PublicIP\":\"198.19." + (bump + i / 250) + "." + (i % 250 + 1) + "\",\"PublicIPv6\":null}");
    }

    static String b64(final String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    /** A PutRequest in JSON (etcd's rpc.proto); the lease ID as a number, which the gateway takes for an int64. */
    static String put(final int i, final int bump, final long lease) {
        return "{\"key\":\"" + key(i) + "\",\"value\":\"" + value(i, bump) + "\",\"lease\":" + lease + "}";
    }

    /** Milliseconds since 00:00 UTC, with a fraction: comparable with the agent's log times (TZ=UTC). */
    static String now() {
        final Instant t = Instant.now();
        final long micros = t.getEpochSecond() % 86_400 * 1_000_000L + t.getNano() / 1000;
        return String.format(java.util.Locale.ROOT, "%.3f", micros / 1000.0);
    }

    /**
     * POSTs {@code body} to the gateway's {@code /v3/PATH} and waits for the answer, at most {@code timeoutSeconds}.
     *
     * @return the answer's JSON object
     * @throws IOException if there is no answer, or it is not HTTP 200 with etcd's JSON, or etcd refused the request
     */
    static JsonNode call(final String path, final String body, final int timeoutSeconds)
        throws IOException, InterruptedException {
        final HttpRequest r = HttpRequest.newBuilder(endpoint.resolve("/v3/" + path))
            .header("Content-Type", "application/json").timeout(Duration.ofSeconds(timeoutSeconds))
            .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        final HttpResponse<String> a = HTTP.send(r, HttpResponse.BodyHandlers.ofString());
        JsonNode n;
        try {
            n = JSON.readTree(a.body());
        } catch (IOException e) {
            n = null;
        }
        // LeaseGrantResponse has an "error" string of its own, empty when granted
        if (a.statusCode() != 200 || n == null || !n.isObject() || !n.path("error").asText("").isEmpty()) {
            final String b = a.body().strip();
            throw new IOException("POST " + r.uri() + ": HTTP " + a.statusCode() + ": "
                + (b.length() > 300 ? b.substring(0, 300) + "..." : b));
        }
        return n;
    }

    public static void main(final String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: LeaseWriter ENDPOINT prefill N | churn FIRST COUNT INTERVAL_MS | "
                + "burst FIRST COUNT | compact");
            System.exit(2);
        }
        endpoint = URI.create(args[0]);
        switch (args[1]) {
            case "prefill" -> prefill(Integer.parseInt(args[2]));
            case "churn" -> churn(Integer.parseInt(args[2]), Integer.parseInt(args[3]), Long.parseLong(args[4]));
            case "burst" -> burst(Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            case "compact" -> {
                final long rev = call("kv/range", "{\"key\":\"" + b64("/") + "\",\"limit\":1}", 30)
                    .path("header").path("revision").asLong();
                call("kv/compaction", "{\"revision\":" + rev + "}", 60);
                System.out.println("compacted " + rev);
            }
            default -> throw new IllegalArgumentException("unknown command " + args[1]);
        }
    }

    private static long grant() throws Exception {
        final long id = call("lease/grant", "{\"TTL\":86400}", 30).path("ID").asLong();
        if (id == 0) {
            throw new IOException("etcd granted no lease ID");
        }
        return id;
    }

    private static void delete(final int i) throws Exception {
        call("kv/deleterange", "{\"key\":\"" + key(i) + "\"}", 30);
    }

    private static void prefill(final int n) throws Exception {
        final long lease = grant();
        final long t0 = System.nanoTime();
        for (int first = 0; first < n; first += TXN_OPS) {
            final StringBuilder ops = new StringBuilder("{\"success\":[");
            for (int i = first; i < Math.min(n, first + TXN_OPS); i++) {
                ops.append(i == first ? "" : ",").append("{\"request_put\":").append(put(i, 0, lease)).append('}');
            }
            call("kv/txn", ops.append("]}").toString(), 60);
        }
        System.out.printf("prefilled %d leases in %d ms%n", n, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    }

    /** COUNT deletions of leases FIRST.., one every INTERVAL_MS, then the same leases added again, likewise. */
    private static void churn(final int first, final int count, final long intervalMs) throws Exception {
        final long lease = grant();
        final List<String> lines = new ArrayList<>(2 * count);
        for (int phase = 0; phase < 2; phase++) {
            final long t0 = System.nanoTime();
            for (int k = 0; k < count; k++) {
                final long due = t0 + TimeUnit.MILLISECONDS.toNanos(k * intervalMs);
                long wait;
                while ((wait = due - System.nanoTime()) > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                final int i = first + k;
                final String sent = now();
                if (phase == 0) {
                    delete(i);
                    lines.add("del " + subnet(i) + " " + sent + " " + now());
                } else {
                    call("kv/put", put(i, 0, lease), 30);
                    lines.add("add " + subnet(i) + " " + sent + " " + now());
                }
            }
        }
        lines.forEach(System.out::println);
    }

    /** As fast as etcd takes them: deletes leases FIRST..FIRST+COUNT-1 and gives the next COUNT a new PublicIP. */
    private static void burst(final int first, final int count) throws Exception {
        final long lease = grant();
        for (int i = first; i < first + count; i++) {
            delete(i);
            System.out.println("del " + subnet(i) + " " + now());
        }
        for (int i = first + count; i < first + 2 * count; i++) {
            call("kv/put", put(i, 100, lease), 30);
            System.out.println("chg " + subnet(i) + " " + now());
        }
    }
}
