package io.overlay.examples;

import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.overlay.core.OverlayHistory;
import io.overlay.core.OverlayStatus;
import io.overlay.metrics.OverlayMetrics;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The launcher's {@code GET /metrics}: a Prometheus registry holding {@link OverlayMetrics} and the JVM's meters
 * (memory, GC, threads, class loading, CPU usage, uptime, file descriptors), scraped in the Prometheus text format
 * 0.0.4.
 * Every meter reads its value at scrape time; nothing here runs between scrapes except the GC listener Micrometer
 * installs.
 */
final class PrometheusPage {
    /** The text format's content type. */
    static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

    /** The overlay's meters, refreshed as each scrape begins. */
    private final OverlayMetrics overlayMetrics;

    /**
     * Creates the registry and binds every meter.
     *
     * @param status the overlay's status, e.g. {@code overlay::status}
     * @param history the overlay's event history (its listener)
     */
    PrometheusPage(final Supplier<OverlayStatus> status, final OverlayHistory history) {
        // Two of Micrometer's names fail promtool's lint (a unit abbreviated as ns, a gauge ending in _count);
        // process_cpu_usage and the JVM's own meters say the same.
        registry.config().meterFilter(MeterFilter.deny(id -> id.getName().equals("process.cpu.time")
            || id.getName().equals("system.cpu.count")));
        overlayMetrics = new OverlayMetrics(status, history, OverlayVersion.version());
        overlayMetrics.bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry); // lives as long as the process: never closed
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
    }

    /**
     * Returns the page for the health server.
     *
     * @return {@code /metrics}'s page
     */
    HealthServer.Page page() {
        return new HealthServer.Page(CONTENT_TYPE, () -> {
            overlayMetrics.refresh(); // this scrape's values are read now, never an earlier scrape's
            return registry.scrape();
        });
    }

    /**
     * Returns the launcher's pages beside {@code /healthz} and {@code /readyz}: {@code /metrics} and {@code /status}.
     *
     * @param status the overlay's status, e.g. {@code overlay::status}
     * @param history the overlay's event history (its listener)
     * @return the pages by path
     */
    static Map<String, HealthServer.Page> operatorPages(final Supplier<OverlayStatus> status,
                                                        final OverlayHistory history) {
        return Map.of("/metrics", new HealthServer.Page(CONTENT_TYPE, new FirstScrape(status, history)),
            "/status", StatusJson.page(status, history));
    }

    /**
     * {@code /metrics}'s body, the registry made at the first scrape: Micrometer, the Prometheus registry and the JVM
     * binders are some 500 classes that the launcher's class data sharing archive leaves out (an agent without a
     * health server would map them for nothing), about 4 MiB and 0.35 s of a start when made eagerly, and a health
     * server is often there for {@code /healthz} alone (docs/performance.md, "Round seven"). The GC pause,
     * allocation and live-data meters count from that scrape on; overlay's own meters read counters kept since the
     * start. Scrapes run in parallel once the registry is made. A registry that cannot be made (a class missing from
     * the jar) is not tried again: every scrape answers 500 naming why.
     */
    private static final class FirstScrape implements Supplier<String> {
        private final Supplier<OverlayStatus> status;
        private final OverlayHistory history;
        private volatile Supplier<String> scrape;
        private Throwable failure; // guarded by this

        FirstScrape(final Supplier<OverlayStatus> status, final OverlayHistory history) {
            this.status = status;
            this.history = history;
        }

        @Override
        public String get() {
            Supplier<String> s = scrape;
            if (s == null) {
                s = make();
            }
            return s.get();
        }

        private synchronized Supplier<String> make() {
            if (scrape == null && failure == null) {
                try {
                    scrape = new PrometheusPage(status, history).page().body();
                } catch (RuntimeException | LinkageError e) { // an Error would end the server's thread, no answer
                    failure = e;
                }
            }
            if (failure != null) {
                throw new IllegalStateException("the metrics registry could not be made: " + failure, failure);
            }
            return scrape;
        }
    }
}
