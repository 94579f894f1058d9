package io.overlay.examples;

import static io.overlay.examples.JumboMtuEndToEndTest.iperf;
import static io.overlay.examples.JumboMtuEndToEndTest.ping;
import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Privileged;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * The launcher's {@code --loops}: two {@link OverlayHosts} with {@code --loops=2} each run two packet loops (a
 * two-queue TUN, two receiving sockets on the port and a second sending one on port + 1), and parallel TCP flows
 * between them keep both loop threads busy on both hosts. Logs go to {@code target/e2e-loops/}.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class LoopsEndToEndTest {
    private OverlayHosts overlay;
    private OverlayHosts.Host h1;
    private OverlayHosts.Host h2;

    @BeforeAll
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        overlay = OverlayHosts.start("e2e-loops", 2, h -> List.of("--loops=2"));
        h1 = overlay.hosts().get(0);
        h2 = overlay.hosts().get(1);
        for (OverlayHosts.Host h : overlay.hosts()) {
            OverlayHosts.await("h" + h.n() + " knows its peer", Duration.ofSeconds(60),
                () -> OverlayHosts.metrics(h).getOrDefault("overlay_peers", 0.0) == 1.0);
        }
    }

    @AfterAll
    void tearDown() {
        if (overlay != null) {
            overlay.close();
        }
    }

    @Test
    void eachHostReceivesOnTwoSocketsAndSendsFromPortAndPortPlusOne() throws Exception {
        for (OverlayHosts.Host h : overlay.hosts()) {
            final String sockets = (String) OverlayHosts.runIn(h, Duration.ofSeconds(10), "ss", "-Huan")[1];
            assertThat(sockets.lines().filter(l -> l.contains(":8285 ")).count()).as("h%d: %s", h.n(), sockets)
                .isEqualTo(2);
            assertThat(sockets.lines().filter(l -> l.contains(":8286 ")).count()).as("h%d: %s", h.n(), sockets)
                .isEqualTo(1);
            assertThat(loopCpuTicks(h)).as("h%d's loop threads", h.n()).hasSize(2);
        }
        assertThat((String) ping(h1, h2, 56, 3)[1]).contains("3 received");
        assertThat((String) ping(h2, h1, 56, 3)[1]).contains("3 received");
    }

    @Test
    void parallelFlowsKeepBothLoopsBusyOnBothHosts() throws Exception {
        final Map<String, Long> before1 = loopCpuTicks(h1);
        final Map<String, Long> before2 = loopCpuTicks(h2);
        // 16 flows: the sender's TUN spreads them over its two queues by flow hash, each queue's loop sends from its
        // own port, and the receiver's socket group steers by that port; all 16 on one queue has odds of 2^-15
        iperf(h1, h2, 5301, "-P 16 -t 2");
        for (Object[] host : new Object[][] {{h1, before1}, {h2, before2}}) {
            final OverlayHosts.Host h = (OverlayHosts.Host) host[0];
            @SuppressWarnings("unchecked")
            final Map<String, Long> before = (Map<String, Long>) host[1];
            final Map<String, Long> after = loopCpuTicks(h);
            assertThat(after.keySet()).isEqualTo(before.keySet());
            for (String thread : after.keySet()) {
                // 2 s of traffic at several Gbit/s: each loop works for well over 30 ms (3 ticks)
                assertThat(after.get(thread) - before.get(thread)).as("h%d %s CPU ticks", h.n(), thread)
                    .isGreaterThanOrEqualTo(3);
            }
        }
    }

    /** User + system CPU ticks of each packet loop thread ({@code overlay-udp-*}) of host {@code h}'s agent. */
    private static Map<String, Long> loopCpuTicks(final OverlayHosts.Host h) throws IOException {
        final Map<String, Long> ticks = new TreeMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(h.process().pid()), "task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                final String comm = Files.readString(task.resolve("comm")).strip();
                if (comm.startsWith("overlay-udp")) {
                    final String stat = Files.readString(task.resolve("stat"));
                    // fields after the ")" that ends comm: state is field 3, utime 14, stime 15
                    final String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    ticks.put(comm, Long.parseLong(f[11]) + Long.parseLong(f[12]));
                }
            }
        }
        return ticks;
    }
}
