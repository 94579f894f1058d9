package io.overlay.etcd;

import io.overlay.core.flannel.InvalidNetworkConfigException;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches {@code <prefix>/config} after {@code start} (package-private; control thread only). flanneld reads the
 * network config once at start-up ({@code getConfig} in main.go, v0.20.2 and v0.28.9) and never looks again, so a
 * changed Network or SubnetLen goes unnoticed until each host restarts, in whatever order. Here every change is
 * compared with the config this host runs with:
 *
 * <ul>
 *   <li>the same config (also after a change back): nothing, or "matches again";</li>
 *   <li>only SubnetMin/SubnetMax differ and this host's subnet still fits: applied (re-acquisition uses the new
 *       range), WARN;</li>
 *   <li>anything else (Network, SubnetLen, Backend, or a range that no longer holds this host's subnet): ERROR naming
 *       the old and new values and that a restart is needed; the listener is told
 *       ({@link io.overlay.core.spi.LeaseListener#networkConfigChanged}), which makes the facade not ready;</li>
 *   <li>deleted or invalid: ERROR, the running config is kept, readiness unchanged (a restart would only wait).</li>
 * </ul>
 *
 * <p>A broken watch is reopened with capped backoff, a compacted one re-reads the key, and so does one that finds the
 * store behind the read (at once, then with capped backoff while it stays behind: a lagging member); each (re)start
 * reads the key once, so no change is missed while the watch was away.
 */
final class NetworkConfigWatch {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);

    private final EtcdSettings settings;
    private final SubnetRegistry registry;
    private final ControlThread control;
    private final LeaseKeeper keeper;
    private NetworkConfig running;
    /** The last stored config evaluated (parsed), or the raw text of an invalid one, or "deleted". */
    private Object lastSeen;
    private List<String> restartNeeded = List.of();
    private SubnetRegistry.Watching watching;
    private int gen;
    private long lastRevision;
    private long backoffNanos;
    /** Pause before re-reading for a store that looks behind: at once, then backoff while it stays behind. */
    private final BehindBackoff behind;

    NetworkConfigWatch(final EtcdSettings settings, final SubnetRegistry registry, final ControlThread control,
                       final LeaseKeeper keeper) {
        this.settings = settings;
        this.behind = new BehindBackoff(settings);
        this.registry = registry;
        this.control = control;
        this.keeper = keeper;
    }

    /** Starts watching; {@code cfg} is the config this host acquired its lease with. */
    void start(final NetworkConfig cfg) {
        control.execute("network config watch", () -> {
            running = cfg;
            lastSeen = cfg;
            readAndWatch();
        }, this::reopenLater);
    }

    /** Closes the watch (on close, after the control thread stopped). */
    void close() {
        closeWatch();
    }

    private void readAndWatch() {
        if (control.closed()) {
            return;
        }
        closeWatch();
        final SubnetRegistry.Read r;
        try {
            r = registry.read(settings.configKey());
        } catch (EtcdUnavailableException e) {
            LOG.debug("Cannot read the network config to watch it: {}; retrying", e.getMessage());
            reopenLater();
            return;
        }
        backoffNanos = 0;
        evaluate(r.value().map(SubnetRegistry.Value::value).orElse(null));
        // The watch starts right after the read's revision (also when the key is absent): a change written between
        // the read and the watch is delivered by the watch.
        lastRevision = r.revision();
        openWatch();
    }

    private void openWatch() {
        final int g = ++gen;
        final String key = settings.configKey();
        watching = registry.watch(key, lastRevision + 1, new SubnetRegistry.WatchSink() {
            @Override
            public void onEvents(final List<SubnetRegistry.Event> events, final long progressRevision) {
                onControl(g, () -> {
                    backoffNanos = 0;
                    behind.reset();
                    for (SubnetRegistry.Event ev : events) {
                        lastRevision = Math.max(lastRevision, ev.modRevision());
                        if (ev.key().equals(key)) {
                            evaluate(ev.put() ? ev.value() : null);
                        }
                    }
                    lastRevision = Math.max(lastRevision, progressRevision);
                });
            }

            @Override
            public void onCompacted(final long compactRevision) {
                onControl(g, NetworkConfigWatch.this::readAndWatch);
            }

            @Override
            public void onStoreBehind(final long storeRevision) {
                onControl(g, NetworkConfigWatch.this::onStoreBehind);
            }

            @Override
            public void onError(final Throwable error) {
                onControl(g, NetworkConfigWatch.this::reopenLater);
            }

            @Override
            public void onCompleted() {
                onControl(g, NetworkConfigWatch.this::reopenLater);
            }
        });
    }

    /**
     * Re-reads at once the first time; a member that keeps answering behind (lagging the one the read came from) is
     * re-read with capped backoff, not in a loop of reads and watches.
     */
    private void onStoreBehind() {
        final long delay = behind.onBehind();
        if (delay == 0) {
            readAndWatch();
            return;
        }
        closeWatch();
        control.later("network config re-read", this::readAndWatch, delay, this::reopenLater);
    }

    private void onControl(final int g, final Runnable r) {
        control.execute("network config watch event", () -> {
            if (g == gen && !control.closed()) {
                r.run();
            }
        }, this::reopenLater);
    }

    private void reopenLater() {
        closeWatch();
        backoffNanos = backoffNanos == 0 ? settings.backoffMin().toNanos()
            : Math.min(backoffNanos * 2, settings.backoffMax().toNanos());
        control.later("network config watch reopening", this::readAndWatch, backoffNanos, this::reopenLater);
    }

    private void closeWatch() {
        gen++;
        if (watching != null) {
            try {
                watching.close();
            } catch (RuntimeException e) {
                LOG.debug("closing the network config watch", e);
            }
            watching = null;
        }
    }

    /** Compares what the key now holds ({@code null}: deleted) with the running config and says what it means. */
    private void evaluate(final byte[] value) {
        final String key = settings.configKey();
        if (value == null) {
            if (!"deleted".equals(lastSeen)) {
                lastSeen = "deleted";
                LOG.error("Network config {} was deleted while running; keeping the config this host runs with "
                    + "(Network {}, {}); a restart would wait until it is written again", key, running.network(),
                    running.rangeDescription());
            }
            return;
        }
        final String json = new String(value, StandardCharsets.UTF_8);
        final NetworkConfig stored;
        try {
            stored = NetworkConfig.parse(json);
        } catch (InvalidNetworkConfigException e) {
            if (!json.equals(lastSeen)) {
                lastSeen = json;
                LOG.error("Network config {} changed and is now invalid: {} (field {}); keeping the config this "
                    + "host runs with (Network {}, {}); a restart would wait until it is fixed", key, e.getMessage(),
                    e.field(), running.network(), running.rangeDescription());
            }
            return;
        }
        if (stored.equals(lastSeen)) {
            return;
        }
        lastSeen = stored;
        final List<String> diffs = differences(running, stored);
        final List<String> restart = new ArrayList<>();
        for (String d : diffs) {
            if (!d.startsWith("SubnetMin") && !d.startsWith("SubnetMax")) {
                restart.add(d);
            }
        }
        final Ipv4Prefix own = keeper.ownSubnet();
        if (restart.isEmpty() && own != null && !stored.isCompatible(own)) {
            restart.add("this host's subnet " + own + " is outside the new range " + stored.rangeDescription());
        }
        final List<String> before = restartNeeded;
        restartNeeded = List.copyOf(restart);
        if (diffs.isEmpty()) {
            if (!before.isEmpty()) {
                LOG.info("Network config {} is again the one this host runs with (Network {}, {})", key,
                    stored.network(), stored.rangeDescription());
            }
            keeper.networkConfig(running);
        } else if (restart.isEmpty()) {
            keeper.networkConfig(stored);
            LOG.warn("Network config {} changed while running: {}; applied (a re-acquired lease comes from the new "
                + "range; this host's subnet {} still fits)", key, String.join(", ", diffs), own);
        } else {
            LOG.error("Network config {} changed while running: {}. This host keeps running with the config it "
                + "started with until it is restarted, and is not ready until then (or until the config is changed "
                + "back): {}", key, String.join(", ", diffs), String.join("; ", restart));
        }
        if (!before.equals(restartNeeded) || !diffs.isEmpty()) {
            final NetworkConfig was = running;
            final List<String> r = restartNeeded;
            control.emit(x -> x.networkConfigChanged(was, stored, r));
        }
    }

    /** The differences that matter to this host, as "Field old -> new". */
    static List<String> differences(final NetworkConfig a, final NetworkConfig b) {
        final List<String> out = new ArrayList<>();
        if (!a.network().equals(b.network())) {
            out.add("Network " + a.network() + " -> " + b.network());
        }
        if (a.subnetLen() != b.subnetLen()) {
            out.add("SubnetLen " + a.subnetLen() + " -> " + b.subnetLen());
        }
        if (a.subnetMin() != b.subnetMin()) {
            out.add("SubnetMin " + Ipv4.format(a.subnetMin()) + " -> " + Ipv4.format(b.subnetMin()));
        }
        if (a.subnetMax() != b.subnetMax()) {
            out.add("SubnetMax " + Ipv4.format(a.subnetMax()) + " -> " + Ipv4.format(b.subnetMax()));
        }
        if (!Objects.equals(a.backend().type(), b.backend().type())) {
            out.add("Backend.Type " + a.backend().type() + " -> " + b.backend().type());
        }
        if (a.backend().port() != b.backend().port()) {
            out.add("Backend.Port " + a.backend().port() + " -> " + b.backend().port());
        }
        return out;
    }
}
