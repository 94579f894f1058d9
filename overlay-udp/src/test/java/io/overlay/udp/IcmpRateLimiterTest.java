package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The token bucket of {@link IcmpRateLimiter}, driven by an injected clock (nanoseconds). */
class IcmpRateLimiterTest {
    private static final long MS = 1_000_000L;
    /** An arbitrary clock origin, negative like System.nanoTime() may be. */
    private static final long T0 = -123_456_789_000L;

    @Test
    void defaultsAreLinuxIcmpMsgsPerSecAndBurst() {
        assertThat(IcmpRateLimiter.MESSAGES_PER_SECOND).isEqualTo(1000);
        assertThat(IcmpRateLimiter.BURST).isEqualTo(50);
        final IcmpRateLimiter limiter = new IcmpRateLimiter(T0);
        assertThat(acquired(limiter, T0, 1000)).isEqualTo(50);
        assertThat(acquired(limiter, T0 + 10 * MS, 1000)).as("10 ms at 1000/s").isEqualTo(10);
    }

    @Test
    void startsFullThenRefusesUntilTimeRefills() {
        final IcmpRateLimiter limiter = new IcmpRateLimiter(1000, 50, T0);
        assertThat(acquired(limiter, T0, 50)).isEqualTo(50);
        assertThat(limiter.tryAcquire(T0)).as("bucket empty").isFalse();
        assertThat(limiter.tryAcquire(T0 + MS - 1)).as("not a whole token yet").isFalse();
        assertThat(limiter.tryAcquire(T0 + MS)).as("1 ms = one token").isTrue();
        assertThat(limiter.tryAcquire(T0 + MS)).isFalse();
    }

    @Test
    void fractionsOfATokenAccumulateAcrossCalls() {
        final IcmpRateLimiter limiter = new IcmpRateLimiter(1000, 1, T0);
        assertThat(limiter.tryAcquire(T0)).isTrue();
        long now = T0;
        int sent = 0;
        for (int i = 0; i < 100; i++) { // 100 calls 0.1 ms apart = 10 ms = 10 tokens
            now += MS / 10;
            if (limiter.tryAcquire(now)) {
                sent++;
            }
        }
        assertThat(sent).isEqualTo(10);
    }

    @Test
    void neverHoldsMoreThanTheBurstAfterALongQuietPeriod() {
        final IcmpRateLimiter limiter = new IcmpRateLimiter(1000, 50, T0);
        assertThat(acquired(limiter, T0, 50)).isEqualTo(50);
        final long later = T0 + 3_600_000 * MS; // an hour later
        assertThat(acquired(limiter, later, 1000)).isEqualTo(50);
        final long muchLater = Long.MAX_VALUE + T0 - 1; // elapsed close to Long.MAX_VALUE: no overflow
        assertThat(acquired(limiter, muchLater, 1000)).isEqualTo(50);
    }

    @Test
    void sustainedFloodGetsTheRatePlusTheBurst() {
        final IcmpRateLimiter limiter = new IcmpRateLimiter(1000, 50, T0);
        int sent = 0;
        for (long t = 0; t < 2_000 * MS; t += 10_000) { // 100,000 requests/s for 2 s
            if (limiter.tryAcquire(T0 + t)) {
                sent++;
            }
        }
        assertThat(sent).isBetween(50 + 2000 - 1, 50 + 2000);
    }

    @Test
    void aClockGoingBackwardsAddsNothing() {
        final IcmpRateLimiter limiter = new IcmpRateLimiter(1000, 2, T0);
        assertThat(acquired(limiter, T0, 2)).isEqualTo(2);
        assertThat(limiter.tryAcquire(T0 - 5_000 * MS)).isFalse();
        assertThat(limiter.tryAcquire(T0 + MS)).isTrue();
    }

    @Test
    void rejectsInvalidSettings() {
        assertThatThrownBy(() -> new IcmpRateLimiter(0, 50, T0)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("rate");
        assertThatThrownBy(() -> new IcmpRateLimiter(1000, 0, T0)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("burst");
    }

    private static int acquired(final IcmpRateLimiter limiter, final long now, final int attempts) {
        int n = 0;
        for (int i = 0; i < attempts; i++) {
            if (limiter.tryAcquire(now)) {
                n++;
            }
        }
        return n;
    }
}
