package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import org.junit.jupiter.api.Test;

/** {@link Answer.Body}'s contract with the JDK client, driven by hand (the gateway's use is in GatewayRegistryTest). */
class AnswerTest {
    /** A subscription that records what the subscriber asked of it. */
    private static final class Recorded implements Flow.Subscription {
        long requested;
        boolean cancelled;

        @Override
        public void request(final long n) {
            requested += n;
        }

        @Override
        public void cancel() {
            cancelled = true;
        }
    }

    private static ByteBuffer text(final String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.US_ASCII));
    }

    @Test
    void partsAreJoinedInOrderAndTakenOnce() throws Exception {
        final Answer.Body body = new Answer.Body();
        final Recorded s = new Recorded();
        body.onSubscribe(s);
        assertThat(s.requested).as("all of it at once").isEqualTo(Long.MAX_VALUE);
        body.onNext(List.of(text("{\"count\""), text(":")));
        body.onNext(List.of(ByteBuffer.allocate(0), text("\"1\"}")));
        body.onComplete();
        assertThat(body.getBody().toCompletableFuture().get()).isSameAs(body);
        assertThat(new String(body.take(), StandardCharsets.US_ASCII)).isEqualTo("{\"count\":\"1\"}");
        assertThat(body.take()).as("the holder keeps nothing once taken").isEmpty();
    }

    @Test
    void anEmptyBodyIsEmpty() throws Exception {
        final Answer.Body body = new Answer.Body();
        body.onSubscribe(new Recorded());
        body.onComplete();
        assertThat(body.getBody().toCompletableFuture().get().take()).isEmpty();
    }

    @Test
    void aFailedBodyFailsWithItsCause() {
        final Answer.Body body = new Answer.Body();
        body.onSubscribe(new Recorded());
        body.onNext(List.of(text("{\"cou")));
        final IOException cut = new IOException("connection reset");
        body.onError(cut);
        assertThatThrownBy(() -> body.getBody().toCompletableFuture().get()).isInstanceOf(ExecutionException.class)
            .hasCause(cut);
        assertThat(body.take()).isEmpty();
    }

    @Test
    void aSecondSubscriptionIsCancelled() {
        final Answer.Body body = new Answer.Body();
        final Recorded first = new Recorded();
        final Recorded second = new Recorded();
        body.onSubscribe(first);
        body.onSubscribe(second);
        assertThat(second.cancelled).isTrue();
        assertThat(second.requested).isZero();
        assertThat(first.cancelled).isFalse();
    }

    /** 32 × 64 MiB (one buffer given again and again, nothing copied) is just over what one array holds. */
    @Test
    void aBodyLargerThanAnArrayIsRefusedByName() {
        final Answer.Body body = new Answer.Body();
        final Recorded s = new Recorded();
        body.onSubscribe(s);
        final ByteBuffer chunk = ByteBuffer.allocate(1 << 26);
        for (int i = 0; i < 31; i++) {
            body.onNext(List.of(chunk));
        }
        assertThat(s.cancelled).as("1,984 MiB still fits").isFalse();
        body.onNext(List.of(chunk));
        assertThat(s.cancelled).as("the rest is not asked for").isTrue();
        body.onNext(List.of(chunk)); // already in flight: dropped
        body.onComplete();
        assertThatThrownBy(() -> body.getBody().toCompletableFuture().get()).isInstanceOf(ExecutionException.class)
            .cause().isInstanceOf(IOException.class)
            .hasMessageContaining("etcd's answer is larger than 2147483639 bytes");
        assertThat(body.take()).isEmpty();
    }
}
