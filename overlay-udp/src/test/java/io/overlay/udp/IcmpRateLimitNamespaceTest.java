package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import io.overlay.testing.TestPackets;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A flood to an unleased overlay subnet through a real TUN: one namespace, a host like flannel0 (100.64.1.0/24 of
 * Network 100.64.0.0/16, no peers, engine bound to 198.18.0.1 on the namespace's loopback), {@value #COUNT} ICMP echo
 * requests to 100.64.9.x injected with a raw socket while the loop is held, so they queue in the TUN and are served as
 * one flood. The ICMP net unreachables the engine writes back are counted by its counters and captured by a raw ICMP
 * socket in the namespace; both must stay within Linux's token bucket (burst 50 + 1000/s × elapsed), and the
 * suppressed counter must account for every other packet.
 *
 * <p>{@value #COUNT} stays below the kernel's default TUN queue of 500 packets (the {@code txqueuelen} of a new TUN),
 * so the flood fits the TUN however the engine configured its queue length; the capture socket gets a 1 MiB receive
 * buffer ({@value #CAPTURE_BUFFER} bytes; the default 212992 holds only about 250 small ICMP packets), and its kernel
 * drop counter must stay 0, so the capture is compared exactly with the engine's count.
 */
@Privileged
class IcmpRateLimitNamespaceTest {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");
    private static final Ipv4Prefix SUBNET = Ipv4Prefix.parse("100.64.1.0/24");
    private static final String UNDERLAY = "198.18.0.1";
    private static final int MTU = 1472;
    /** Echo requests in the flood: more than the burst, fewer than a default TUN queue (500). */
    private static final int COUNT = 400;
    /** Receive buffer of the capture socket in bytes: room for every ICMP the engine may write (at most COUNT). */
    private static final int CAPTURE_BUFFER = 1 << 20;
    private static final int ID = 0x5a17;
    private static final int IPPROTO_ICMP = 1;

    @ParameterizedTest(name = "offloads={0}")
    @ValueSource(booleans = {true, false})
    void floodToAnUnleasedSubnetGetsRateLimitedNetUnreachables(final boolean offloads) throws Exception {
        try (Netns ns = Netns.create()) {
            ns.exec("ip", "addr", "add", UNDERLAY + "/32", "dev", "lo");
            try (EngineHost host = EngineHost.start(ns, UNDERLAY, NETWORK, SUBNET, MTU, 1, Map.of(), true, offloads)) {
                assertThat(host.engine.loop(0).offloads()).isEqualTo(offloads);
                final int capture = RawSockets.open(ns.name(), IPPROTO_ICMP, 300, CAPTURE_BUFFER);
                final int inject = RawSockets.open(ns.name(), RawSockets.IPPROTO_RAW, 1000);
                try {
                    flood(host, capture, inject);
                } finally {
                    RawSockets.close(inject);
                    RawSockets.close(capture);
                }
            }
        }
    }

    private static void flood(final EngineHost host, final int capture, final int inject) throws Exception {
        final TrafficCounters before = host.engine.counters();
        assertThat(before.icmpUnreachableSent() + before.icmpUnreachableSuppressed()).isZero();
        final CountDownLatch release = host.holdLoop(Duration.ofSeconds(10));
        long start = 0;
        try {
            for (int i = 0; i < COUNT; i++) {
                final int dst = Ipv4.parse("100.64.9." + (1 + i % 250));
                RawSockets.send(inject, TestPackets.icmpEcho(host.subnet.address(), dst, ID, i, 64), dst);
            }
        } finally {
            start = System.nanoTime(); // before the loop may serve a packet: elapsed covers all its ICMP decisions
            release.countDown();
        }
        final long deadline = start + 5_000_000_000L;
        TrafficCounters c = host.engine.counters();
        while (!(c.drops(DropReason.NO_ROUTE) >= COUNT && answered(c) >= COUNT) && System.nanoTime() < deadline) {
            Thread.sleep(1);
            c = host.engine.counters();
        }
        final long elapsed = System.nanoTime() - start;
        assertThat(c.drops(DropReason.NO_ROUTE)).as("every packet dropped as NO_ROUTE").isEqualTo(COUNT);
        assertThat(c.tunToUdpPackets()).isZero();

        final long sent = c.icmpUnreachableSent();
        final long allowed = IcmpRateLimiter.BURST + IcmpRateLimiter.MESSAGES_PER_SECOND * elapsed / 1_000_000_000L + 1;
        assertThat(allowed).as("flood served in %d ms: fast enough for the limit to have to refuse some of %d",
            elapsed / 1_000_000, COUNT).isLessThan(COUNT);
        assertThat(sent).as("ICMPs written within %d ms", elapsed / 1_000_000)
            .isGreaterThanOrEqualTo(IcmpRateLimiter.BURST).isLessThanOrEqualTo(allowed);
        assertThat(c.icmpUnreachableSuppressed()).as("suppressed accounts for the rest").isEqualTo(COUNT - sent);

        final int captured = captureNetUnreachables(capture);
        assertThat(RawSockets.drops(capture)).as("ICMPs the capture socket dropped (buffer full)").isZero();
        assertThat(captured).as("net unreachables that came out of the TUN").isEqualTo(sent);
        final TrafficCounters after = host.engine.counters();
        assertThat(after.icmpUnreachableSent()).as("nothing sent late").isEqualTo(sent);
        assertThat(after.drops(DropReason.NO_ROUTE)).isEqualTo(COUNT);
    }

    private static long answered(final TrafficCounters c) {
        return c.icmpUnreachableSent() + c.icmpUnreachableSuppressed();
    }

    /** Reads ICMP net unreachables quoting one of our requests until the socket is quiet for its timeout. */
    private static int captureNetUnreachables(final int fd) {
        int count = 0;
        for (int i = 0; i < 2 * COUNT; i++) { // bounded: at most COUNT can be ours
            final byte[] p;
            try {
                p = RawSockets.receive(fd);
            } catch (IOException timeout) {
                break;
            }
            final int ihl = (p[0] & 0x0f) * 4;
            if (p.length >= ihl + 8 + 28 && p[ihl] == 3 && p[ihl + 1] == 0
                && (ByteBuffer.wrap(p).getShort(ihl + 8 + 20 + 4) & 0xffff) == ID) {
                count++;
            }
        }
        return count;
    }
}
