package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.LeaseTakeoverRefusedException;
import io.overlay.core.flannel.Lease;
import io.overlay.testing.LogCapture;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * An agent stopping (its thread interrupted by SIGTERM) while it acquires, or before it recorded a newly allocated
 * subnet anywhere on the host, must not leave that key behind on a live etcd lease: the next start finds a lease with
 * its PublicIP and nothing showing it is its own, and refuses it until the lease expires (24 h). Real etcd; the
 * interrupt is delivered as {@link GatewayRegistry} reports one (after etcd applied the create, the reply lost).
 */
class StopDuringAcquireTest extends EtcdTestSupport {
    @Test
    void aCreateEtcdAppliedWhileTheAgentWasInterruptedIsDeletedAgain() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings s = settings().build();
        final FaultyRegistry faulty = new FaultyRegistry(new GatewayRegistry(s), true);
        faulty.interleaveAfter(FaultyRegistry.Op.CREATE, () -> {
            Thread.currentThread().interrupt(); // SIGTERM while the create's reply was on its way
            throw new EtcdUnavailableException("interrupted during etcd create", new InterruptedException());
        });
        final EtcdSubnetAllocator a = allocator(s, faulty);
        try (LogCapture log = new LogCapture()) {
            assertThatThrownBy(() -> a.acquire(ip("198.18.0.1"), Optional.empty()))
                .isInstanceOfAny(InterruptedException.class, EtcdUnavailableException.class);
            Thread.interrupted(); // whatever the allocator left of the interrupt, not this test's next steps'
            System.out.printf("log: %s%n", log.messages());
        }
        assertThat(keys()).as("no key left for the stopped agent").isEmpty();
        a.close();
        final Lease next = allocator().acquire(ip("198.18.0.1"), Optional.empty());
        assertThat(keys()).containsExactly(subnetKey(next.key()));
    }

    @Test
    void releaseDeletesTheKeyAcquireCreatedSoTheNextStartIsNotRefused() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator();
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        // without release, the next start without evidence is refused (what a stop before subnet.env caused)
        assertThatThrownBy(() -> allocator().acquire(ip("198.18.0.1"), Optional.empty()))
            .isInstanceOf(LeaseTakeoverRefusedException.class);
        a.release(lease);
        a.close();
        assertThat(keys()).isEmpty();
        final Lease next = allocator().acquire(ip("198.18.0.1"), Optional.empty());
        assertThat(keys()).containsExactly(subnetKey(next.key()));
    }

    private java.util.List<String> keys() {
        final String out = etcd.etcdctl("get", "--prefix", "--keys-only", prefix + "/subnets/").strip();
        return out.isEmpty() ? java.util.List.of() : java.util.Arrays.asList(out.split("\\s+"));
    }
}
