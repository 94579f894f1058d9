package io.overlay.benchmarks;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteChanges;
import io.overlay.core.net.RouteTable;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The control plane's writes to the {@link RouteTable}: loading N peers' routes (the listing at start) as one
 * {@link RouteChanges} batch or as N single puts (one per lease event, what the control plane did before batches),
 * and one lease event into a table that already holds N routes. The peers are the /24s of 100.64.0.0/10, each with
 * its own PublicIP, as flannel's udp leases. Reports milliseconds per load or microseconds per event; run with
 * {@code -prof gc} for the garbage per operation.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RouteBatchBenchmark {
    /** Number of peers. */
    @Param({"1000", "5000", "16383"})
    public int peers;

    private Ipv4Prefix[] subnets;
    private Peer[] routes;
    private RouteChanges listing;
    private RouteTable full;
    private Ipv4Prefix extra;
    private Peer extraPeer;
    private boolean present;

    /** Makes the peers, the listing batch and a table holding all of them. */
    @Setup(Level.Trial)
    public void setup() {
        final int base = Ipv4.parse("100.64.0.0");
        final int ips = Ipv4.parse("198.19.0.0");
        subnets = new Ipv4Prefix[peers];
        routes = new Peer[peers];
        listing = new RouteChanges(peers);
        for (int i = 0; i < peers; i++) {
            subnets[i] = Ipv4Prefix.of(base + (i << 8), 24);
            routes[i] = new Peer(ips + i, 8285);
            listing.put(subnets[i], routes[i]);
        }
        full = new RouteTable();
        full.apply(listing);
        extra = Ipv4Prefix.of(base + (16383 << 8), 24);
        extraPeer = new Peer(ips + 16383, 8285);
    }

    /**
     * The listing of N leases as one batch: one snapshot.
     *
     * @return the table (consumed by JMH)
     */
    @Benchmark
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public RouteTable loadAsOneBatch() {
        final RouteTable t = new RouteTable();
        t.apply(listing);
        return t;
    }

    /**
     * The listing of N leases as N single puts: N snapshots, each copying the pages it changes and the page
     * directories (O(N²) when a snapshot was one flat table, copied whole per put).
     *
     * @return the table (consumed by JMH)
     */
    @Benchmark
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public RouteTable loadPerEvent() {
        final RouteTable t = new RouteTable();
        for (int i = 0; i < peers; i++) {
            t.put(subnets[i], routes[i]);
        }
        return t;
    }

    /**
     * One lease event (a peer added, or removed again) into a table of N routes: one snapshot.
     *
     * @return the previous peer (consumed by JMH)
     */
    @Benchmark
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public Peer oneEventAtN() {
        present = !present;
        return present ? full.put(extra, extraPeer) : full.remove(extra);
    }
}
