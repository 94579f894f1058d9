package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The pause after a store found behind: at once, then capped doubling, over on delivery or after a quiet spell counted
 * from when the last re-read was due.
 */
class BehindBackoffTest {
    private static final long MS = 1_000_000L;
    private final AtomicLong now = new AtomicLong(1_000 * MS);
    private final BehindBackoff b = new BehindBackoff(EtcdSettings.builder().endpoints("http://127.0.0.1:2379")
        .backoff(Duration.ofMillis(100), Duration.ofMillis(1000)).ticker(now::get).build());

    @Test
    void atOnceThenDoublingToTheCapWhileDetectionsKeepComing() {
        long pause = b.onBehind();
        assertThat(pause).isZero();
        final long[] expected = {100, 200, 400, 800, 1000, 1000};
        for (long e : expected) {
            now.addAndGet(pause + 30 * MS); // the next detection comes after the pause and a listing
            pause = b.onBehind();
            assertThat(pause).isEqualTo(e * MS);
        }
    }

    @Test
    void aDeliveryOrAQuietSpellOfTwiceTheCapEndsTheEpisode() {
        b.onBehind();
        now.addAndGet(10 * MS);
        assertThat(b.onBehind()).isEqualTo(100 * MS);
        b.reset();
        assertThat(b.onBehind()).as("after the watch delivered").isZero();

        now.addAndGet(10 * MS);
        assertThat(b.onBehind()).isEqualTo(100 * MS); // its re-read is due 100 ms from now
        now.addAndGet(2100 * MS); // a slow listing: twice the cap after the re-read was due, still the same episode
        assertThat(b.onBehind()).isEqualTo(200 * MS);
        now.addAndGet(2201 * MS);
        assertThat(b.onBehind()).as("after a quiet spell longer than twice the cap").isZero();
    }
}
