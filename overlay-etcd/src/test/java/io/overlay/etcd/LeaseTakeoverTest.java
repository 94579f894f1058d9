package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.flannel.Lease;
import io.overlay.testing.LogCapture;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two hosts started with one PublicIP against a real etcd (the classic "every VM has the same NAT address"): the
 * second host must not silently take the first host's live lease; the real owner restarting keeps its subnet.
 * Only subnet.env (or the lease file) can prove ownership: an address of this host is no evidence, since behind NAT
 * every host holds the same one.
 */
class LeaseTakeoverTest extends EtcdTestSupport {
    @BeforeEach
    void config() {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
    }

    @Test
    void aSecondHostWithTheSamePublicIpIsRefusedAndTheHolderKeepsItsKey() throws Exception {
        final EtcdSubnetAllocator first = allocator();
        final Lease lease = first.acquire(ip("198.18.0.1"), Optional.empty());
        first.start(lease, new RecordingListener());
        final String key = subnetKey(lease.key());
        final KeyState before = get(key);

        final EtcdSubnetAllocator second = allocator();
        assertThatThrownBy(() -> second.acquire(ip("198.18.0.1"), Optional.empty()))
            .hasMessageContaining(key).hasMessageContaining("198.18.0.1")
            .hasMessageContaining(String.format("%016x", before.lease()));
        final KeyState after = get(key);
        assertThat(after.lease()).as("the holder's etcd lease is untouched").isEqualTo(before.lease());
        assertThat(after.modRevision()).isEqualTo(before.modRevision());
        assertThat(leaseTtl(etcd, before.lease())[1]).isPositive();
    }

    /**
     * The PublicIP is an address of this host (127.0.0.1 is one in every network namespace), as a NAT address is on
     * every VM behind it (10.0.2.15 under VirtualBox): still no evidence, the live lease is refused.
     */
    @Test
    void aPublicIpThatIsALocalAddressIsNoEvidence() throws Exception {
        final EtcdSubnetAllocator first = allocator();
        final Lease lease = first.acquire(ip("127.0.0.1"), Optional.empty());
        first.start(lease, new RecordingListener());
        final String key = subnetKey(lease.key());
        final KeyState before = get(key);
        assertThatThrownBy(() -> allocator().acquire(ip("127.0.0.1"), Optional.empty()))
            .isInstanceOf(io.overlay.core.LeaseTakeoverRefusedException.class).hasMessageContaining(key)
            .hasMessageContaining("127.0.0.1");
        assertThat(get(key).lease()).isEqualTo(before.lease());
    }

    /** The owner's restart names its subnet in subnet.env: it keeps its subnet as before. */
    @Test
    void theOwnerRestartingWithItsSubnetEnvKeepsItsSubnet() throws Exception {
        final EtcdSubnetAllocator first = allocator();
        final Lease lease = first.acquire(ip("198.18.0.1"), Optional.empty());
        first.close();
        final Lease again = allocator().acquire(ip("198.18.0.1"), Optional.of(lease.subnet()));
        assertThat(again.subnet()).isEqualTo(lease.subnet());
        assertThat(get(subnetKey(lease.key())).text()).isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
    }

    /** With the takeover allowed the second host takes the key; the holder says so at WARN and keeps renewing it. */
    @Test
    void anAllowedTakeoverIsLoudOnBothSides() throws Exception {
        try (LogCapture log = new LogCapture()) {
            final EtcdSubnetAllocator first = allocator();
            final Lease lease = first.acquire(ip("198.18.0.1"), Optional.empty());
            first.start(lease, new RecordingListener());
            final String key = subnetKey(lease.key());
            final long holder = get(key).lease();

            final Lease taken = allocator(settings().allowLeaseTakeover(true).build())
                .acquire(ip("198.18.0.1"), Optional.empty());
            assertThat(taken.subnet()).isEqualTo(lease.subnet());
            assertThat(get(key).lease()).isNotEqualTo(holder);
            assertThat(log.warnings()).anyMatch(m -> m.startsWith("TAKING OVER lease " + key)
                && m.contains(String.format("%016x", holder)));
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(15)).until(() ->
                log.warnings().stream().anyMatch(m -> m.startsWith("Own key " + key + " was re-put by someone else")
                    && m.contains("198.18.0.1")));
        }
    }

    /** A reservation for this PublicIP is the operator's word: used without subnet.env. */
    @Test
    void aReservationForThisPublicIpNeedsNoEvidence() throws Exception {
        etcd.etcdctl("put", subnetKey("100.64.42.0-24"), "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
        assertThat(allocator().acquire(ip("198.18.0.1"), Optional.empty()).subnet())
            .isEqualTo(io.overlay.core.net.Ipv4Prefix.parse("100.64.42.0/24"));
    }
}
