package io.overlay.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.flannel.UnderlayInterface;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.InterfaceAddresses;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.spi.PacketEngine;
import io.overlay.core.spi.SubnetAllocator;
import io.overlay.core.spi.TrafficCounters;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link UnderlayWatch}'s policy (pure: which call it makes when, what it reports) against in-memory stand-ins of the
 * host's addresses, the engine and the allocator. The etcd side of a PublicIP change is tested on real etcd in
 * overlay-etcd's LeaseKeepingTest, the whole move with real hosts in overlay-examples' PublicIpChangeTest.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class UnderlayWatchTest {
    private static final int OLD = Ipv4.parse("198.18.0.1");
    private static final int NEW = Ipv4.parse("198.18.0.11");
    private static final int NEWER = Ipv4.parse("198.18.0.21");
    private static final Ipv4Prefix SUBNET = Ipv4Prefix.parse("100.64.5.0/24");

    private final EventThread events = new EventThread(new Readiness(), new OverlayListener() { });
    private final List<String> reasons = new CopyOnWriteArrayList<>();
    private final List<Integer> rebinds = new CopyOnWriteArrayList<>();
    private final Allocator allocator = new Allocator();
    private volatile List<InterfaceAddresses.Address> addresses = List.of(address(OLD));

    @AfterEach
    void close() {
        events.shutdown();
    }

    private static InterfaceAddresses.Address address(final int ip) {
        return new InterfaceAddresses.Address("eth9", 1500, ip, 24, false);
    }

    private UnderlayWatch watch() {
        final OverlayConfig cfg = Overlay.builder().allocator(allocator)
            .tunDeviceFactory((name, queues) -> { throw new UnsupportedOperationException(); })
            .packetEngineFactory((settings, device, routes) -> { throw new UnsupportedOperationException(); })
            .ifaces(List.of("eth9")).build().config();
        final InterfaceAddresses source = new InterfaceAddresses() {
            @Override
            public List<Address> ipv4Addresses() {
                return addresses;
            }

            @Override
            public Optional<String> defaultRouteInterface() {
                return Optional.empty();
            }
        };
        final PacketEngine engine = new PacketEngine() {
            @Override
            public void start() {
            }

            @Override
            public void localSubnet(final Ipv4Prefix subnet) {
            }

            @Override
            public TrafficCounters counters() {
                return new TrafficCounters(Map.of(), Map.of());
            }

            @Override
            public void rebind(final int address) {
                rebinds.add(address);
            }

            @Override
            public void close() {
            }
        };
        final Lease lease = new Lease(SUBNET, LeaseAttrs.udp(OLD), false, Duration.ofHours(24));
        return new UnderlayWatch(cfg, source, engine, reasons::add, new AtomicReference<>(lease), events,
            new UnderlayInterface("eth9", OLD, 1500), OLD, 1472, 0);
    }

    /** Runs one check on the event thread, as the overlay's timer does, and waits for what it posted. */
    private void check(final UnderlayWatch w) throws InterruptedException {
        final CountDownLatch done = new CountDownLatch(1);
        events.post(() -> {
            try {
                w.run();
            } finally {
                events.post(done::countDown);
            }
        });
        assertThat(done.await(5, TimeUnit.SECONDS)).isTrue();
        final CountDownLatch after = new CountDownLatch(1);
        events.post(after::countDown); // answers posted by the allocator meanwhile
        assertThat(after.await(5, TimeUnit.SECONDS)).isTrue();
    }

    private String last() {
        return reasons.isEmpty() ? "<nothing>" : String.valueOf(reasons.get(reasons.size() - 1));
    }

    /**
     * An allocator whose changePublicIp throws instead of returning a failed future: the watch reports it and tries
     * again at the next check, and is ready once the PublicIP is written.
     */
    @Test
    void aChangeThatThrowsIsReportedAndTriedAgain() throws Exception {
        final UnderlayWatch w = watch();
        addresses = List.of(address(NEW));
        allocator.throwNext = new IllegalStateException("injected: allocator busy");
        check(w);
        assertThat(rebinds).containsExactly(NEW);
        assertThat(last()).as("reasons: %s", reasons).contains("cannot publish PublicIP 198.18.0.11")
            .contains("injected: allocator busy");

        check(w);
        assertThat(allocator.calls).as("tried again at the next check").containsExactly(NEW, NEW);
        assertThat(reasons.get(reasons.size() - 1)).as("ready again once written").isNull();
        assertThat(allocator.written).isEqualTo(NEW);
    }

    /** A newer address while a change is under way is published at once, and the older answer changes nothing. */
    @Test
    void aNewerAddressIsPublishedWhileAnOlderChangeIsUnderWay() throws Exception {
        final UnderlayWatch w = watch();
        final CompletableFuture<Lease> first = new CompletableFuture<>();
        allocator.next = first;
        addresses = List.of(address(NEW));
        check(w);
        check(w);
        assertThat(allocator.calls).as("one call per address at a time").containsExactly(NEW);
        addresses = List.of(address(NEWER));
        check(w);
        assertThat(allocator.calls).containsExactly(NEW, NEWER);
        assertThat(allocator.written).isEqualTo(NEWER);
        assertThat(reasons.get(reasons.size() - 1)).isNull();
        first.completeExceptionally(new IllegalStateException("superseded by PublicIP 198.18.0.21"));
        check(w);
        assertThat(reasons.get(reasons.size() - 1)).as("still ready: %s", reasons).isNull();
        assertThat(allocator.calls).containsExactly(NEW, NEWER);
    }

    /**
     * The allocator refuses the change (an operator's reservation names the old address): not ready with its reason
     * until the old address, which the lease still names, is back; then the socket moves back to it, the allocator
     * hears the old address again, and the host is ready.
     */
    @Test
    void theOldAddressBackBeforeTheChangeIsWrittenMovesBackToIt() throws Exception {
        final UnderlayWatch w = watch();
        allocator.refuse = "subnet 100.64.5.0/24 is reserved for PublicIP 198.18.0.1";
        addresses = List.of(address(NEW));
        check(w);
        assertThat(last()).contains("is reserved for PublicIP 198.18.0.1");
        check(w);
        assertThat(last()).contains("is reserved for PublicIP 198.18.0.1");

        addresses = List.of(address(NEW), address(OLD));
        check(w);
        assertThat(rebinds).containsExactly(NEW, OLD);
        assertThat(allocator.calls.get(allocator.calls.size() - 1)).as("told: %s", allocator.calls).isEqualTo(OLD);
        assertThat(reasons.get(reasons.size() - 1)).as("reasons: %s", reasons).isNull();
        check(w);
        assertThat(reasons.get(reasons.size() - 1)).isNull();
    }

    private static final class Allocator implements SubnetAllocator {
        final List<Integer> calls = new CopyOnWriteArrayList<>();
        volatile RuntimeException throwNext;
        /** Refuses every change away from 198.18.0.1 with this message, when set. */
        volatile String refuse;
        volatile CompletableFuture<Lease> next;
        volatile int written;

        @Override
        public CompletableFuture<Lease> changePublicIp(final int publicIp) {
            calls.add(publicIp);
            final RuntimeException t = throwNext;
            if (t != null) {
                throwNext = null;
                throw t;
            }
            final String no = refuse;
            if (no != null && publicIp != OLD) {
                return CompletableFuture.failedFuture(new IllegalStateException(no));
            }
            final CompletableFuture<Lease> f = next;
            if (f != null) {
                next = null;
                return f;
            }
            written = publicIp;
            return CompletableFuture.completedFuture(new Lease(SUBNET, LeaseAttrs.udp(publicIp), false,
                Duration.ofHours(24)));
        }

        @Override
        public NetworkConfig awaitNetworkConfig() {
            throw new UnsupportedOperationException();
        }

        @Override
        public Lease acquire(final int publicIp, final Optional<Ipv4Prefix> previousSubnet) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void start(final Lease lease, final LeaseListener listener) {
        }

        @Override
        public void close() {
        }
    }
}
