package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4Prefix;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link LeaseKeeper} alone on the in-memory registry: a renewal of a reservation only checks the key (B13). */
class LeaseKeeperTest extends FakeRegistrySupport {
    private final ControlThread control = new ControlThread();

    @AfterEach
    void stop() {
        control.stopControl();
    }

    private void onControl(final Runnable task) throws InterruptedException {
        final CountDownLatch done = new CountDownLatch(1);
        control.execute("test", () -> {
            try {
                task.run();
            } finally {
                done.countDown();
            }
        }, () -> { });
        assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void renewalOfAReservationRewritesItsValueButNeverAttachesALease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final NetworkConfig cfg = NetworkConfig.parse("{\"Network\":\"100.64.0.0/16\"}");
        final String key = subnetKey("100.64.42.0-24");
        store.put(key, "{\"PublicIP\":\"198.18.0.42\",\"BackendType\":\"vxlan\"}");
        final EtcdSettings s = settings().build();
        final RecordingListener events = new RecordingListener();
        control.listener(events);
        final LeaseKeeper keeper = new LeaseKeeper(s, store, new LeaseAcquirer(s, store, () -> { }), control,
            new PeerSet(s.subnetsPrefix()));
        final LeaseAttrs ours = LeaseAttrs.udp(ip("198.18.0.42"));
        final HeldLease held = new HeldLease(new Lease(Ipv4Prefix.parse("100.64.42.0/24"), ours, true,
            Duration.ZERO), key, 0, store.modRevisionOf(key), Long.MAX_VALUE);
        onControl(() -> keeper.start(held, cfg, ip("198.18.0.42")));

        onControl(keeper::renew);
        assertThat(store.text(key)).isEqualTo("{\"PublicIP\":\"198.18.0.42\",\"PublicIPv6\":null}");
        assertThat(store.leaseOf(key)).isZero();
        // attributes equal: nothing written
        final long rev = store.modRevisionOf(key);
        onControl(keeper::renew);
        assertThat(store.modRevisionOf(key)).isEqualTo(rev);
        assertThat(store.keepAlives).isEmpty();
        assertThat(keeper.renewals()).isZero();

        // the reservation deleted: lost, then the same subnet re-acquired (as a lease now)
        store.delete(key);
        onControl(keeper::renew);
        await().atMost(Duration.ofSeconds(10)).until(() -> events.reacquired.size() == 1);
        assertThat(events.events).containsExactly("lost 100.64.42.0/24", "reacquired 100.64.42.0/24 -> 100.64.42.0/24");
        assertThat(store.leaseOf(key)).isPositive();
        assertThat(keeper.ownKey()).isEqualTo(key);
    }
}
