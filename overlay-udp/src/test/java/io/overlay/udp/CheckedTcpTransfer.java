package io.overlay.udp;

import io.overlay.testing.Netns;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Bulk TCP transfers with an end-to-end content check, between two namespaces: the sender's socket is made in one
 * namespace, the receiver's in the other ({@link Netns#call}), both used from this JVM's threads. Each flow carries
 * {@code bytes} pseudo-random bytes from a seeded {@link SplittableRandom} in 64 KiB blocks; the receiver regenerates
 * the same stream, compares every block as it arrives (the first differing offset is kept) and hashes what arrived with
 * SHA-256, which is compared with the sender's hash of what it wrote. TCP's own checksum cannot catch a segment merged
 * into the wrong place by a coalescer that then gives the result a fresh checksum; this check can.
 *
 * <p>Bounded: every flow's sockets are closed when {@code timeout} passes, so a stalled flow ends (as a failure) at
 * the bound instead of hanging the test.
 */
final class CheckedTcpTransfer {
    /** Block size of the generated stream and of the receiver's comparison. */
    private static final int BLOCK = 64 * 1024;

    /**
     * One flow's outcome.
     *
     * @param flow the flow's index
     * @param expected bytes the sender meant to send
     * @param received bytes the receiver read before EOF (or before the failure)
     * @param firstMismatch the first offset whose byte differs from the sender's stream, or -1
     * @param sentSha256 hex SHA-256 of what the sender wrote
     * @param receivedSha256 hex SHA-256 of what arrived
     * @param millis the flow's duration
     * @param failure what went wrong (timeout, I/O error), or {@code null}
     */
    record Flow(int flow, long expected, long received, long firstMismatch, String sentSha256, String receivedSha256,
                long millis, String failure) {
        /** Whether every byte arrived, unchanged, in time. */
        boolean intact() {
            return failure == null && received == expected && firstMismatch < 0 && sentSha256.equals(receivedSha256);
        }
    }

    private CheckedTcpTransfer() {
    }

    /**
     * Runs {@code flows} transfers at once from {@code from} to {@code to}, each {@code bytes} long, to ports
     * {@code port}, {@code port + 1}, ...
     *
     * @param senderNs where the senders' sockets are made
     * @param from the senders' source address (bound)
     * @param receiverNs where the listening sockets are made
     * @param to the receivers' address
     * @param port the first flow's port
     * @param flows parallel flows
     * @param bytes bytes per flow
     * @param seed the streams' seed (flow i uses {@code seed + i})
     * @param timeout the bound of the whole run, in milliseconds
     * @return each flow's outcome, in flow order
     */
    static List<Flow> run(final Netns senderNs, final String from, final Netns receiverNs, final String to,
                          final int port, final int flows, final long bytes, final long seed, final long timeout)
        throws Exception {
        final List<ServerSocketChannel> servers = new ArrayList<>();
        final List<SocketChannel> channels = Collections.synchronizedList(new ArrayList<>());
        final ExecutorService pool = Executors.newFixedThreadPool(2 * flows, r -> {
            final Thread t = new Thread(r, "checked-transfer");
            t.setDaemon(true);
            return t;
        });
        try {
            for (int i = 0; i < flows; i++) {
                final int p = port + i;
                servers.add(receiverNs.call(() -> {
                    final ServerSocketChannel s = ServerSocketChannel.open();
                    s.setOption(StandardSocketOptions.SO_REUSEADDR, true);
                    s.bind(new InetSocketAddress(to, p), 1);
                    return s;
                }));
            }
            final long t0 = System.nanoTime();
            final List<Future<long[]>> receivers = new ArrayList<>();
            final List<Future<String>> senders = new ArrayList<>();
            final String[] received = new String[flows];
            for (int i = 0; i < flows; i++) {
                final int flow = i;
                final ServerSocketChannel server = servers.get(i);
                receivers.add(pool.submit(() -> receive(server, channels, seed + flow, received, flow)));
                final SocketChannel client = senderNs.call(SocketChannel::open);
                channels.add(client);
                senders.add(pool.submit(() -> send(client, from, new InetSocketAddress(to, port + flow), bytes,
                    seed + flow)));
            }
            final long deadline = t0 + TimeUnit.MILLISECONDS.toNanos(timeout);
            final List<Flow> out = new ArrayList<>();
            for (int i = 0; i < flows; i++) {
                String failure = null;
                String sentSha = "";
                long[] got = {0, -1, 0};
                try {
                    sentSha = senders.get(i).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    got = receivers.get(i).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    failure = "not done within " + timeout + " ms";
                    closeAll(servers, channels); // unblocks every flow; their results follow as failures
                } catch (ExecutionException e) {
                    failure = e.getCause().toString();
                }
                out.add(new Flow(i, bytes, got[0], got[1], sentSha, received[i] == null ? "" : received[i],
                    (got[2] > 0 ? got[2] : System.nanoTime()) / 1_000_000 - t0 / 1_000_000, failure));
            }
            return out;
        } finally {
            closeAll(servers, channels);
            pool.shutdownNow();
            pool.awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    /** Sends the flow's stream, then half-closes and waits for the receiver's close; returns the stream's hash. */
    private static String send(final SocketChannel ch, final String from, final InetSocketAddress to, final long bytes,
                               final long seed) throws IOException {
        ch.bind(new InetSocketAddress(from, 0));
        ch.connect(to);
        final SplittableRandom rng = new SplittableRandom(seed);
        final MessageDigest sha = sha256();
        final byte[] block = new byte[BLOCK];
        final ByteBuffer buf = ByteBuffer.wrap(block);
        long left = bytes;
        while (left > 0) {
            final int n = (int) Math.min(BLOCK, left);
            rng.nextBytes(block);
            sha.update(block, 0, n);
            buf.clear().limit(n);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            left -= n;
        }
        ch.shutdownOutput();
        // the receiver closes once it has read everything: wait for that, so the flow's time includes delivery
        final ByteBuffer sink = ByteBuffer.allocate(16);
        while (ch.read(sink.clear()) >= 0) {
            // nothing is sent back
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /** Receives one flow until EOF; returns {bytes, first mismatching offset or -1, end time in ns}. */
    private static long[] receive(final ServerSocketChannel server, final List<SocketChannel> channels, final long seed,
                                  final String[] hashes, final int flow) throws IOException {
        try (SocketChannel ch = server.accept()) {
            channels.add(ch);
            final SplittableRandom rng = new SplittableRandom(seed);
            final MessageDigest sha = sha256();
            final byte[] expected = new byte[BLOCK];
            final byte[] block = new byte[BLOCK];
            final ByteBuffer buf = ByteBuffer.wrap(block);
            long total = 0;
            long mismatch = -1;
            boolean eof = false;
            while (!eof) {
                buf.clear();
                while (buf.hasRemaining()) {
                    if (ch.read(buf) < 0) {
                        eof = true;
                        break;
                    }
                }
                final int n = buf.position();
                if (n == 0) {
                    break;
                }
                rng.nextBytes(expected);
                sha.update(block, 0, n);
                if (mismatch < 0) {
                    final int at = Arrays.mismatch(block, 0, n, expected, 0, n);
                    if (at >= 0) {
                        mismatch = total + at;
                    }
                }
                total += n;
            }
            hashes[flow] = HexFormat.of().formatHex(sha.digest());
            return new long[] {total, mismatch, System.nanoTime()};
        }
    }

    private static void closeAll(final List<ServerSocketChannel> servers, final List<SocketChannel> channels) {
        for (ServerSocketChannel s : servers) {
            closeQuietly(s);
        }
        synchronized (channels) {
            for (SocketChannel c : channels) {
                closeQuietly(c);
            }
        }
    }

    private static void closeQuietly(final Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // closing to end the flow: nothing more to do
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
