package io.overlay.udp.crypto;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ReplayWindowTest {
    @Test
    void acceptsEachCounterOnceInAnyOrderWithinTheWindow() {
        final ReplayWindow w = new ReplayWindow();
        assertThat(w.accept(5)).isTrue();
        assertThat(w.accept(5)).isFalse();
        assertThat(w.accept(0)).isTrue();
        assertThat(w.accept(3)).isTrue();
        assertThat(w.mayAccept(3)).isFalse();
        assertThat(w.mayAccept(4)).isTrue();
        assertThat(w.highest()).isEqualTo(5);
    }

    @Test
    void sequencesUpToTheWindowBelowTheHighestAreAcceptedAndOlderOnesRefused() {
        final ReplayWindow w = new ReplayWindow();
        // one window per sender loop: it sees one socket's datagrams, so it need not span a loops' lag
        assertThat(ReplayWindow.WINDOW).isEqualTo(4032);
        assertThat(ReplayWindow.BYTES).isEqualTo(512);
        assertThat(w.accept(100_000)).isTrue();
        assertThat(w.accept(100_000 - ReplayWindow.WINDOW + 1)).isTrue();
        assertThat(w.accept(100_000 - ReplayWindow.WINDOW)).isFalse();
        assertThat(w.accept(100_000 - 64)).isTrue();
        assertThat(w.accept(-1)).isFalse();
    }

    @Test
    void slidingFarAheadForgetsTheOldBitsButRefusesOldCounters() {
        final ReplayWindow w = new ReplayWindow();
        for (long c = 0; c < 5000; c++) {
            assertThat(w.accept(c)).isTrue();
        }
        assertThat(w.accept(1_000_000)).isTrue();
        assertThat(w.accept(1_000_000 - 1)).isTrue();
        assertThat(w.accept(4999)).isFalse();
        // a counter whose ring word was reused for a newer one is still new
        assertThat(w.accept(1_000_000 - 64)).isTrue();
    }

    /** Against a model (a set with the same window) over a random arrival order with duplicates. */
    @Test
    void matchesAModelOverRandomArrivals() {
        final SplittableRandom random = new SplittableRandom(6479);
        final ReplayWindow w = new ReplayWindow();
        final java.util.Set<Long> seen = new java.util.HashSet<>();
        long top = -1;
        long next = 0;
        for (int i = 0; i < 200_000; i++) {
            final long c = random.nextInt(10) == 0 ? Math.max(0, next - random.nextInt(ReplayWindow.WINDOW + 5000)) : next++;
            final boolean expected = c > top || top - c < ReplayWindow.WINDOW && !seen.contains(c);
            assertThat(w.accept(c)).as("counter %d (top %d)", c, top).isEqualTo(expected);
            if (expected) {
                seen.add(c);
                top = Math.max(top, c);
            }
        }
    }

    /** Two loops accepting a peer's counters at once: a good counter is (almost) never refused for the other's flag. */
    @Test
    void contentionBetweenLoopsRefusesNoGoodCounter() throws Exception {
        final int perThread = 2016; // every counter stays inside the window: all must be accepted
        final java.util.concurrent.atomic.AtomicInteger refused = new java.util.concurrent.atomic.AtomicInteger();
        for (int round = 0; round < 300; round++) {
            final ReplayWindow w = new ReplayWindow();
            final java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(2);
            final Thread[] threads = new Thread[2];
            for (int t = 0; t < 2; t++) {
                final long first = (long) t * perThread;
                threads[t] = new Thread(() -> {
                    try {
                        start.await();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    for (long c = first; c < first + perThread; c++) {
                        if (!w.accept(c)) {
                            refused.incrementAndGet();
                        }
                    }
                });
                threads[t].start();
            }
            for (Thread t : threads) {
                t.join();
            }
        }
        // giving up without waiting refused about 4% here; a holder descheduled for longer than the spins and yields
        // can still cost a datagram on a loaded machine, so allow a trace
        assertThat(refused.get()).isLessThan(300 * 2 * perThread / 1000);
    }
}
