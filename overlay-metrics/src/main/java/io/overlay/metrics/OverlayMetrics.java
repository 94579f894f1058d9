package io.overlay.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.overlay.core.OverlayHistory;
import io.overlay.core.OverlayStatus;
import io.overlay.core.spi.AllocatorStatus;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.Counter;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

/**
 * Binds a running overlay's meters into a Micrometer {@link MeterRegistry}: function counters and gauges that read
 * overlay's own counters when the registry is scraped. Nothing is incremented per packet, so the packet path is the
 * same with or without metrics; an embedder that does not use Micrometer leaves this module out and loads no
 * Micrometer class.
 *
 * <pre>{@code
 * OverlayHistory history = new OverlayHistory();
 * Overlay overlay = Overlay.builder().allocator(allocator).listener(history).build();
 * new OverlayMetrics(overlay::status, history, "1.2.3").bindTo(registry);
 * }</pre>
 *
 * <p>Meter names are dotted (Micrometer's style); in the Prometheus format they read {@code overlay_..._total} for
 * counters, with {@code _bytes} and {@code _seconds} for the units, as listed in {@code docs/metrics.md}: one counter
 * per engine {@link Counter} ({@code overlay_tun_to_udp_packets_total}, ...; a new constant appears by itself), drops
 * by {@code reason}, peers, lease remaining time,
 * renewals, losses and re-acquisitions, the etcd watch's resets, re-lists and errors, readiness and build
 * information.
 *
 * <p>One scrape reads every meter in turn; they share one {@link OverlayStatus} snapshot taken at most
 * {@value #SNAPSHOT_MILLIS} ms earlier, so a scrape costs one snapshot, not one per meter.
 */
public final class OverlayMetrics implements MeterBinder {
    /** How long one status snapshot serves the meters of a scrape. */
    static final long SNAPSHOT_MILLIS = 100;

    /** A status snapshot and when it was taken ({@link System#nanoTime()}). */
    private record Snapshot(OverlayStatus status, long takenNanos) {
    }

    private final Supplier<OverlayStatus> source;
    private final OverlayHistory history;
    private final String version;
    private volatile Snapshot snapshot;

    /**
     * Creates the binder.
     *
     * @param status where the overlay's state is read, e.g. {@code overlay::status}; must not block
     * @param history the overlay's event history (installed as, or in front of, its listener)
     * @param version the version reported by {@code overlay_build_info}, e.g. {@code 0.1.0}
     */
    public OverlayMetrics(final Supplier<OverlayStatus> status, final OverlayHistory history, final String version) {
        this.source = Objects.requireNonNull(status, "status");
        this.history = Objects.requireNonNull(history, "history");
        this.version = Objects.requireNonNull(version, "version");
    }

    @Override
    public void bindTo(final MeterRegistry registry) {
        for (Counter c : Counter.values()) {
            // TUN_TO_UDP_BYTES -> overlay.tun.to.udp.bytes -> overlay_tun_to_udp_bytes_total
            final String name = "overlay." + c.name().toLowerCase(Locale.ROOT).replace('_', '.');
            counter(name, c.description(), s -> s.counters().get(c))
                .baseUnit(name.endsWith(".bytes") ? BaseUnits.BYTES : null).register(registry);
        }
        for (DropReason r : DropReason.values()) {
            counter("overlay.drops", "packets dropped by the engine, by reason",
                s -> s.counters().drops(r)).tag("reason", r.name().toLowerCase(Locale.ROOT)).register(registry);
        }
        gauge(registry, "overlay.peers", "peers with a route (hosts holding a lease)", s -> s.peers().size());
        gauge(registry, "overlay.ready", "1 when the overlay forwards for its lease, else 0", s -> s.ready() ? 1 : 0);
        Gauge.builder("overlay.lease.remaining", history,
                h -> h.leaseRemaining().map(d -> d.toMillis() / 1000.0).orElse(Double.NaN))
            .description("time left on this host's lease; NaN while none is held and for a reservation")
            .baseUnit("seconds").strongReference(true).register(registry);
        FunctionCounter.builder("overlay.lease.lost", history, OverlayHistory::leasesLost)
            .description("times this host's lease was lost").register(registry);
        FunctionCounter.builder("overlay.lease.reacquired", history, OverlayHistory::leasesReacquired)
            .description("times a lease was re-acquired after a loss").register(registry);
        allocator(registry, "overlay.lease.renewals", "successful renewals of this host's lease",
            AllocatorStatus::renewals);
        allocator(registry, "overlay.etcd.watch.resets", "times the etcd lease watch broke and was reopened",
            AllocatorStatus::watchResets);
        allocator(registry, "overlay.etcd.relists",
            "times all leases were listed again because the watch revision was compacted", AllocatorStatus::relists);
        allocator(registry, "overlay.etcd.errors",
            "etcd requests that failed, plus lease keys or values skipped as malformed or unroutable",
            AllocatorStatus::errors);
        Gauge.builder("overlay.build.info", () -> 1).description("build information; the value is always 1")
            .tag("version", version).register(registry);
    }

    private void allocator(final MeterRegistry registry, final String name, final String description,
                           final ToLongFunction<AllocatorStatus> value) {
        counter(name, description, s -> value.applyAsLong(s.allocator())).register(registry);
    }

    private FunctionCounter.Builder<OverlayMetrics> counter(final String name, final String description,
                                                            final ToDoubleFunction<OverlayStatus> value) {
        return FunctionCounter.builder(name, this, m -> value.applyAsDouble(m.status())).description(description);
    }

    private void gauge(final MeterRegistry registry, final String name, final String description,
                       final ToDoubleFunction<OverlayStatus> value) {
        // Micrometer holds a meter's object weakly; a strong gauge keeps this binder, the object of every meter here,
        // as long as the registry.
        Gauge.builder(name, this, m -> value.applyAsDouble(m.status())).description(description).strongReference(true)
            .register(registry);
    }

    /**
     * Makes the next meter read take a fresh status snapshot. Call it as a scrape begins, so that the scrape never
     * serves values from before it began: without it two scrapes less than {@value #SNAPSHOT_MILLIS} ms apart (a
     * client reading before and after a short transfer) would show the same values. Thread-safe; cheap.
     */
    public void refresh() {
        snapshot = null;
    }

    /** The status for this scrape: the snapshot if it is recent, else a new one. */
    private OverlayStatus status() {
        final long now = System.nanoTime();
        final Snapshot s = snapshot;
        if (s != null && now - s.takenNanos() < SNAPSHOT_MILLIS * 1_000_000L) {
            return s.status();
        }
        final OverlayStatus fresh = source.get();
        snapshot = new Snapshot(fresh, now);
        return fresh;
    }
}
