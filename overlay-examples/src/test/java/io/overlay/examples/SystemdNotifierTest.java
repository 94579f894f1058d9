package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.OverlayStatus;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.net.Ipv4Prefix;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sd_notify datagrams {@link SystemdNotifier} sends, received on a real socket, and how it reads its variables. */
class SystemdNotifierTest {
    private static final Duration WAIT = Duration.ofSeconds(5);
    private static final OverlayStatus READY = new OverlayStatus(true, "",
        new Lease(Ipv4Prefix.parse("100.64.5.0/24"), LeaseAttrs.udp(0), false, Duration.ZERO),
        Ipv4Prefix.parse("100.64.0.0/16"), 1472, "flannel0", "cbr0", Map.of(), null);

    @TempDir
    Path dir;

    @Test
    void aPathBecomesFamilyPathAndNul() {
        final byte[] a = SystemdNotifier.socketAddress("/run/n");
        assertThat(a).hasSize(2 + 7);
        final int family = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? a[0] | a[1] << 8 : a[1] | a[0] << 8;
        assertThat(family).as("AF_UNIX").isEqualTo(1);
        assertThat(new String(a, 2, 6)).isEqualTo("/run/n");
        assertThat(a[8]).isZero();
    }

    @Test
    void anAbstractNameBecomesLeadingNulAndNameWithoutTerminator() {
        final byte[] a = SystemdNotifier.socketAddress("@sd");
        assertThat(a).hasSize(2 + 3);
        assertThat(a[2]).isZero();
        assertThat(new String(a, 3, 2)).isEqualTo("sd");
    }

    @Test
    void otherFormsAndTooLongNamesAreRefused() {
        assertThatThrownBy(() -> SystemdNotifier.socketAddress("vsock:2:1234"))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("vsock");
        assertThatThrownBy(() -> SystemdNotifier.socketAddress("relative/path"))
            .isInstanceOf(IllegalArgumentException.class);
        assertThat(SystemdNotifier.socketAddress("/" + "x".repeat(106))).hasSize(2 + 108);
        assertThatThrownBy(() -> SystemdNotifier.socketAddress("/" + "x".repeat(107)))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not fit");
        assertThat(SystemdNotifier.socketAddress("@" + "x".repeat(107))).hasSize(2 + 108);
        assertThatThrownBy(() -> SystemdNotifier.socketAddress("@" + "x".repeat(108)))
            .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void watchdogFollowsUsecAndPid() {
        assertThat(SystemdNotifier.watchdogMicros(Map.of(), 42)).isZero();
        assertThat(SystemdNotifier.watchdogMicros(Map.of("WATCHDOG_USEC", "3000000"), 42)).isEqualTo(3_000_000);
        assertThat(SystemdNotifier.watchdogMicros(Map.of("WATCHDOG_USEC", "3000000", "WATCHDOG_PID", "42"), 42))
            .isEqualTo(3_000_000);
        assertThat(SystemdNotifier.watchdogMicros(Map.of("WATCHDOG_USEC", "3000000", "WATCHDOG_PID", "7"), 42))
            .as("meant for another process").isZero();
        assertThat(SystemdNotifier.watchdogMicros(Map.of("WATCHDOG_USEC", "soon"), 42)).isZero();
        assertThat(SystemdNotifier.watchdogMicros(Map.of("WATCHDOG_USEC", "0"), 42)).isZero();
    }

    @Test
    void withoutNotifySocketNothingIsSent() {
        try (SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("WATCHDOG_USEC", "1000"), 1)) {
            assertThat(n.enabled()).isFalse();
            n.start(() -> READY);
            n.ready(READY);
            n.notReady("lost");
            n.stopping();
        }
        try (SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", "vsock:2:9"), 1)) {
            assertThat(n.enabled()).as("unsupported form: ignored").isFalse();
        }
    }

    @Test
    void readyStatusAndStoppingReachAPathSocketInOrder() throws Exception {
        final String path = dir.resolve("notify").toString();
        try (NotifySocket s = NotifySocket.bind(path);
             SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", path), 1)) {
            assertThat(n.enabled()).isTrue();
            n.ready(READY);
            n.notReady("lease 100.64.5.0/24 lost; re-acquiring");
            n.ready(READY);
            n.stopping();
            assertThat(received(s, 4)).containsExactly(
                "READY=1\nSTATUS=ready cbr0:100.64.5.1 subnet:100.64.5.1/24 mtu:1472",
                "STATUS=not-ready lease 100.64.5.0/24 lost; re-acquiring",
                "READY=1\nSTATUS=ready cbr0:100.64.5.1 subnet:100.64.5.1/24 mtu:1472",
                "STOPPING=1\nSTATUS=stopping");
        }
    }

    @Test
    void anAbstractNameIsReachedAndStatusFollowsTheHealthLine() throws Exception {
        final String name = "@overlay-test-" + UUID.randomUUID();
        final AtomicReference<OverlayStatus> now = new AtomicReference<>(new OverlayStatus(false,
            "waiting for the network config", null, null, 0, null, null, Map.of(), null));
        try (NotifySocket s = NotifySocket.bind(name);
             SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", name), 1)) {
            n.start(now::get);
            assertThat(s.receive(WAIT)).isEqualTo("STATUS=not-ready waiting for the network config");
            now.set(new OverlayStatus(false, "acquiring a lease", null, null, 0, null, null, Map.of(), null));
            assertThat(s.receive(WAIT)).as("sent once the line changes")
                .isEqualTo("STATUS=not-ready acquiring a lease");
            assertThat(s.receive(Duration.ofMillis(2500))).as("an unchanged line is not sent again").isNull();
            n.stopping();
            assertThat(s.receive(WAIT)).isEqualTo("STOPPING=1\nSTATUS=stopping");
            now.set(READY);
            assertThat(s.receive(Duration.ofMillis(2500))).as("no STATUS= after STOPPING=1").isNull();
        }
    }

    @Test
    void watchdogPingsComeEveryHalfPeriod() throws Exception {
        final String path = dir.resolve("wd").toString();
        try (NotifySocket s = NotifySocket.bind(path);
             SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of("NOTIFY_SOCKET", path,
                 "WATCHDOG_USEC", "400000", "WATCHDOG_PID", Long.toString(ProcessHandle.current().pid())),
                 ProcessHandle.current().pid())) {
            final long t0 = System.nanoTime();
            n.start(() -> READY);
            int pings = 0;
            while (pings < 5) {
                final String m = s.receive(WAIT);
                assertThat(m).as("a datagram within %s", WAIT).isNotNull();
                if (m.equals("WATCHDOG=1")) {
                    pings++;
                }
            }
            final long elapsedMillis = (System.nanoTime() - t0) / 1_000_000;
            assertThat(elapsedMillis).as("5 pings at 200 ms (the first at once) take about 800 ms")
                .isBetween(700L, 4000L);
        }
    }

    private static List<String> received(final NotifySocket s, final int count) throws InterruptedException {
        final List<String> got = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            final String m = s.receive(WAIT);
            assertThat(m).as("datagram %d of %d; got so far %s", i + 1, count, got).isNotNull();
            got.add(m);
        }
        return got;
    }
}
