package io.overlay.etcd;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * An HTTP answer from etcd's gateway, its body taken out of the JDK client's response (package-private).
 *
 * <p>Why not {@code HttpResponse<byte[]>}: the JDK 17 client keeps the exchange that opened a connection, its
 * response and body included, for as long as the connection lives (the connection's connect-timeout timer event holds
 * the exchange: {@code jdk.internal.net.http.PlainHttpConnection}, JDK 17.0.15). After a listing the watch reuses
 * that connection for hours, and a 5,000-lease listing's 1.1 MB body stayed live with it (found in a heap dump of
 * {@code benchmarks/scale-bench.sh}'s agent). Here the response holds a {@link Body} that {@link #of} empties.
 *
 * @param statusCode the HTTP status
 * @param uri the request's URI, for messages
 * @param body the body's bytes, empty when there was none
 */
record Answer(int statusCode, URI uri, byte[] body) {
    /** Gathers each answer's body into a {@link Body}. */
    static final HttpResponse.BodyHandler<Body> BODY = info -> new Body();

    /** Takes the answer out of {@code r}, leaving its {@link Body} empty. */
    static Answer of(final HttpResponse<Body> r) {
        return new Answer(r.statusCode(), r.uri(), r.body().take());
    }

    /**
     * A body's bytes as they arrive, joined at the end (as the JDK's {@code BodySubscribers.ofByteArray}), until
     * {@link #take} hands them over once. The client calls {@code onNext} and {@code onComplete} one at a time; the
     * taker reads after {@link #getBody} completed.
     */
    static final class Body implements HttpResponse.BodySubscriber<Body> {
        /** The largest body one {@code byte[]} holds (the JDK's own limit for arrays, a little under 2 GiB). */
        static final int MAX_BYTES = Integer.MAX_VALUE - 8;

        private final CompletableFuture<Body> done = new CompletableFuture<>();
        private Flow.Subscription subscription;
        private List<ByteBuffer> parts = new ArrayList<>();
        private int size;
        private byte[] bytes;

        @Override
        public CompletionStage<Body> getBody() {
            return done;
        }

        @Override
        public void onSubscribe(final Flow.Subscription s) {
            if (subscription != null) {
                s.cancel(); // one body per answer (Flow's rule 2.5)
                return;
            }
            subscription = s;
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(final List<ByteBuffer> items) {
            if (parts == null) {
                return; // given up on (too large) or failed: what is still in flight is dropped
            }
            for (ByteBuffer b : items) {
                if (b.remaining() > MAX_BYTES - size) {
                    parts = null;
                    subscription.cancel();
                    done.completeExceptionally(new IOException("etcd's answer is larger than " + MAX_BYTES
                        + " bytes, the most one array holds"));
                    return;
                }
                size += b.remaining();
                parts.add(b);
            }
        }

        @Override
        public void onError(final Throwable error) {
            parts = null;
            done.completeExceptionally(error);
        }

        @Override
        public void onComplete() {
            if (parts == null) {
                return;
            }
            final byte[] all = new byte[size];
            int at = 0;
            for (ByteBuffer b : parts) {
                final int n = b.remaining();
                b.get(all, at, n);
                at += n;
            }
            parts = null;
            bytes = all;
            done.complete(this);
        }

        /** Returns the body's bytes and forgets them; empty after the first call. */
        byte[] take() {
            final byte[] b = bytes == null ? new byte[0] : bytes;
            bytes = null;
            return b;
        }
    }
}
