package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.OverlayStatus;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.core.spi.TrafficManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The launcher's glue: lease events apply the host rules; readiness is the overlay's and the rules' together. */
class HostTrafficTest {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");
    private static final Lease LEASE = lease("100.64.3.0/24");

    /** A manager that records calls and reports a settable problem. */
    private static final class Recording implements TrafficManager {
        final List<String> calls = new ArrayList<>();
        volatile Optional<String> problem = Optional.of(INSTALLING);

        @Override
        public void apply(final Ipv4Prefix network, final Ipv4Prefix subnet) {
            calls.add("apply " + network + " " + subnet);
        }

        @Override
        public Optional<String> problem() {
            return problem;
        }

        @Override
        public void close() {
            calls.add("close");
        }
    }

    /** Records what is passed on. */
    private static final class Next implements io.overlay.core.OverlayListener {
        final List<String> events = new ArrayList<>();

        @Override
        public void leaseAcquired(final Lease lease) {
            events.add("acquired " + lease.subnet());
        }

        @Override
        public void leaseReacquired(final Lease previous, final Lease current) {
            events.add("reacquired " + current.subnet());
        }

        @Override
        public void peerAdded(final Lease lease) {
            events.add("peer " + lease.subnet());
        }

        @Override
        public void ready(final OverlayStatus status) {
            events.add(status.healthLine());
        }

        @Override
        public void notReady(final String reason) {
            events.add("notReady " + reason);
        }
    }

    private static Lease lease(final String subnet) {
        return new Lease(Ipv4Prefix.parse(subnet), LeaseAttrs.udp(Ipv4.parse("198.18.0.1")), false,
            Duration.ofHours(24));
    }

    private static OverlayStatus status(final boolean ready, final String reason) {
        return new OverlayStatus(ready, reason, LEASE, NETWORK, 1472, "flannel0", "cbr0", Map.of(),
            TrafficCounters.ZERO);
    }

    @Test
    void leaseEventsApplyTheRulesForTheNetworkAndTheCurrentSubnet() {
        final Recording m = new Recording();
        final Next next = new Next();
        final HostTraffic t = new HostTraffic(m, next);
        t.leaseAcquired(LEASE); // before the overlay names its Network: nothing to apply yet
        t.network(() -> NETWORK);
        t.leaseAcquired(LEASE);
        t.leaseReacquired(LEASE, lease("100.64.9.0/24"));
        t.peerAdded(lease("100.64.7.0/24"));
        t.close();
        assertThat(m.calls).containsExactly("apply 100.64.0.0/16 100.64.3.0/24", "apply 100.64.0.0/16 100.64.9.0/24",
            "close");
        assertThat(next.events).as("every event passed on").containsExactly("acquired 100.64.3.0/24",
            "acquired 100.64.3.0/24", "reacquired 100.64.9.0/24", "peer 100.64.7.0/24");
    }

    @Test
    void readyIsPassedOnOnlyOnceTheRulesAreInPlace() {
        final Recording m = new Recording();
        final Next next = new Next();
        final HostTraffic t = new HostTraffic(m, next);
        t.ready(status(true, ""));
        t.announceIfReady(status(true, "")); // still installing: nothing
        m.problem = Optional.empty();
        t.announceIfReady(status(true, ""));
        t.announceIfReady(status(true, "")); // passed on once
        t.ready(status(true, "")); // a later ready with the rules in place goes straight through
        assertThat(next.events).containsExactly("notReady installing host rules",
            "ready cbr0:100.64.3.1 subnet:100.64.3.1/24 mtu:1472", "ready cbr0:100.64.3.1 subnet:100.64.3.1/24 mtu:1472");
    }

    @Test
    void readyOnlyWhenTheOverlayIsReadyAndTheRulesAreInPlace() {
        final Recording m = new Recording();
        final HostTraffic t = new HostTraffic(m, new io.overlay.core.OverlayListener() { });
        assertThat(t.gate(status(false, "acquiring a lease")).healthLine()).isEqualTo("not-ready acquiring a lease");
        assertThat(t.gate(status(true, "")).healthLine()).isEqualTo("not-ready installing host rules");
        m.problem = Optional.of("host rules: nft -f - failed (exit 1): Error: x");
        assertThat(t.gate(status(true, "")).healthLine())
            .isEqualTo("not-ready host rules: nft -f - failed (exit 1): Error: x");
        m.problem = Optional.empty();
        assertThat(t.gate(status(true, "")).healthLine()).isEqualTo("ready cbr0:100.64.3.1 subnet:100.64.3.1/24 mtu:1472");
    }
}
