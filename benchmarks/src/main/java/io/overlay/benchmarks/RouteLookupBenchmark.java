package io.overlay.benchmarks;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Route lookup on the packet path: {@link RouteTable#lookup(int)} with 1, 256, 4,096 and 65,536 peers, each a /26 of
 * 100.64.0.0/10, for destinations spread over all peers (every lookup hits). Reports lookups per microsecond; run with
 * {@code -prof gc} to see 0 B/op.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RouteLookupBenchmark {
    private static final int DESTINATIONS = 4096; // power of two

    /** Number of peers in the table. */
    @Param({"1", "256", "4096", "65536"})
    public int peers;

    private final RouteTable table = new RouteTable();
    private final int[] destinations = new int[DESTINATIONS];
    private int next;

    /** Fills the table and a pre-computed list of destinations. */
    @Setup
    public void setup() {
        final int base = Ipv4.parse("100.64.0.0");
        final Map<Ipv4Prefix, Peer> all = new LinkedHashMap<>();
        for (int i = 0; i < peers; i++) {
            all.put(Ipv4Prefix.of(base + (i << 6), 26), new Peer(Ipv4.parse("198.18.0.0") + i, 8285));
        }
        table.replaceAll(all);
        final SplittableRandom random = new SplittableRandom(42);
        for (int i = 0; i < DESTINATIONS; i++) {
            destinations[i] = base + (random.nextInt(peers) << 6) + 1 + random.nextInt(62);
        }
    }

    /**
     * One lookup.
     *
     * @return the packed peer (consumed by JMH)
     */
    @Benchmark
    public long lookup() {
        final int dst = destinations[next++ & (DESTINATIONS - 1)];
        return table.lookup(dst);
    }
}
