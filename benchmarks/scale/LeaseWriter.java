// The etcd side of benchmarks/scale-bench.sh: writes fake peer leases in flannel's format and prints when each write
// was sent, so the script can compare with the agent's log. Run as a single-file program with overlay.jar on the
// class path (it uses the jetcd client inside the jar):
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

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

public final class LeaseWriter {
    private static final String PREFIX = "/coreos.com/network/subnets/";
    private static final int TXN_OPS = 1000; // scale-bench.sh starts etcd with --max-txn-ops above this
    private static final long DAY_MS = 86_400_000L;

    private LeaseWriter() {
    }

    static String subnet(final int i) {
        return "100." + (64 + i / 256) + "." + (i % 256) + ".0/24";
    }

    static ByteSequence key(final int i) {
        return bytes(PREFIX + subnet(i).replace('/', '-'));
    }

    static ByteSequence value(final int i, final int bump) {
        return bytes("{\"PublicIP\":\"198.19." + (bump + i / 250) + "." + (i % 250 + 1) + "\",\"PublicIPv6\":null}");
    }

    static ByteSequence bytes(final String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    /** Milliseconds since 00:00 UTC, with a fraction: comparable with the agent's log times (TZ=UTC). */
    static String now() {
        final Instant t = Instant.now();
        final long micros = t.getEpochSecond() % 86_400 * 1_000_000L + t.getNano() / 1000;
        return String.format(java.util.Locale.ROOT, "%.3f", micros / 1000.0);
    }

    public static void main(final String[] args) throws Exception {
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME))
            .setLevel(ch.qos.logback.classic.Level.WARN);
        if (args.length < 2) {
            System.err.println("usage: LeaseWriter ENDPOINT prefill N | churn FIRST COUNT INTERVAL_MS | "
                + "burst FIRST COUNT | compact");
            System.exit(2);
        }
        try (Client client = Client.builder().endpoints(args[0]).build()) {
            final KV kv = client.getKVClient();
            switch (args[1]) {
                case "prefill" -> prefill(client, kv, Integer.parseInt(args[2]));
                case "churn" -> churn(client, kv, Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Long.parseLong(args[4]));
                case "burst" -> burst(client, kv, Integer.parseInt(args[2]), Integer.parseInt(args[3]));
                case "compact" -> {
                    final long rev = kv.get(bytes("/"), GetOption.builder().withLimit(1).build()).get(30,
                        TimeUnit.SECONDS).getHeader().getRevision();
                    kv.compact(rev).get(60, TimeUnit.SECONDS);
                    System.out.println("compacted " + rev);
                }
                default -> throw new IllegalArgumentException("unknown command " + args[1]);
            }
        }
    }

    private static long grant(final Client client) throws Exception {
        return client.getLeaseClient().grant(86_400).get(30, TimeUnit.SECONDS).getID();
    }

    private static void prefill(final Client client, final KV kv, final int n) throws Exception {
        final long lease = grant(client);
        final PutOption opt = PutOption.builder().withLeaseId(lease).build();
        final long t0 = System.nanoTime();
        for (int first = 0; first < n; first += TXN_OPS) {
            final List<Op> ops = new ArrayList<>();
            for (int i = first; i < Math.min(n, first + TXN_OPS); i++) {
                ops.add(Op.put(key(i), value(i, 0), opt));
            }
            kv.txn().Then(ops.toArray(Op[]::new)).commit().get(60, TimeUnit.SECONDS);
        }
        System.out.printf("prefilled %d leases in %d ms%n", n, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    }

    /** COUNT deletions of leases FIRST.., one every INTERVAL_MS, then the same leases added again, likewise. */
    private static void churn(final Client client, final KV kv, final int first, final int count,
                              final long intervalMs) throws Exception {
        final long lease = grant(client);
        final PutOption opt = PutOption.builder().withLeaseId(lease).build();
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
                    kv.delete(key(i), DeleteOption.DEFAULT).get(30, TimeUnit.SECONDS);
                    lines.add("del " + subnet(i) + " " + sent + " " + now());
                } else {
                    kv.put(key(i), value(i, 0), opt).get(30, TimeUnit.SECONDS);
                    lines.add("add " + subnet(i) + " " + sent + " " + now());
                }
            }
        }
        lines.forEach(System.out::println);
    }

    /** As fast as etcd takes them: deletes leases FIRST..FIRST+COUNT-1 and gives the next COUNT a new PublicIP. */
    private static void burst(final Client client, final KV kv, final int first, final int count) throws Exception {
        final long lease = grant(client);
        final PutOption opt = PutOption.builder().withLeaseId(lease).build();
        for (int i = first; i < first + count; i++) {
            kv.delete(key(i), DeleteOption.DEFAULT).get(30, TimeUnit.SECONDS);
            System.out.println("del " + subnet(i) + " " + now());
        }
        for (int i = first + count; i < first + 2 * count; i++) {
            kv.put(key(i), value(i, 100), opt).get(30, TimeUnit.SECONDS);
            System.out.println("chg " + subnet(i) + " " + now());
        }
    }
}
