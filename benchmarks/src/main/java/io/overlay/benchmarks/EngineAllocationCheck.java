package io.overlay.benchmarks;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;

/**
 * Checks, thread by thread, that the engine allocates nothing per packet: drives {@link EngineLoopBenchmark} (the real
 * engine on a socket-pair TUN and a loopback peer) for a warm-up and then for a measured number of 32-packet batches in
 * each direction, and prints the bytes every thread allocated during the measured part
 * ({@code com.sun.management.ThreadMXBean#getThreadAllocatedBytes}). The engine's loop thread is named
 * {@code overlay-udp-*}; it must show 0. JMH's {@code -prof gc} reports all threads together, which mixes in the
 * harness' own background allocation; this separates them.
 *
 * <p>Usage: {@code java -cp benchmarks/target/benchmarks.jar io.overlay.benchmarks.EngineAllocationCheck [batches]}
 * (default 50,000 batches = 1.6 million packets per direction, 1472-byte packets). Exits with status 1 if the engine
 * thread allocated anything.
 */
public final class EngineAllocationCheck {
    private EngineAllocationCheck() {
    }

    /**
     * Runs the check.
     *
     * @param args optional number of measured batches per direction
     * @throws IOException if the engine or a socket cannot be set up
     */
    public static void main(final String[] args) throws IOException {
        final int batches = args.length > 0 ? Integer.parseInt(args[0]) : 50_000;
        final com.sun.management.ThreadMXBean mx =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        final EngineLoopBenchmark b = new EngineLoopBenchmark();
        b.size = 1472;
        b.setup();
        long engineBytes = 0;
        try {
            for (final boolean tunToUdp : new boolean[] {true, false}) {
                for (int i = 0; i < 20_000; i++) {
                    run(b, tunToUdp);
                }
                final long[] ids = mx.getAllThreadIds();
                final long[] before = mx.getThreadAllocatedBytes(ids);
                final long start = System.nanoTime();
                for (int i = 0; i < batches; i++) {
                    run(b, tunToUdp);
                }
                final double seconds = (System.nanoTime() - start) / 1e9;
                final long[] after = mx.getThreadAllocatedBytes(ids);
                final ThreadInfo[] infos = mx.getThreadInfo(ids);
                System.out.printf("%s: %,d packets in %.2f s (%,.0f packets/s)%n", tunToUdp ? "TUN -> UDP" : "UDP -> TUN",
                    (long) batches * EngineLoopBenchmark.BATCH, seconds, batches * EngineLoopBenchmark.BATCH / seconds);
                for (int i = 0; i < ids.length; i++) {
                    if (infos[i] == null || before[i] < 0 || after[i] < 0) {
                        continue;
                    }
                    final long bytes = after[i] - before[i];
                    System.out.printf("  %-24s %,d bytes%n", infos[i].getThreadName(), bytes);
                    if (infos[i].getThreadName().startsWith("overlay-udp")) {
                        engineBytes += bytes;
                    }
                }
            }
        } finally {
            b.tearDown();
        }
        System.out.println(engineBytes == 0 ? "OK: the engine thread allocated nothing"
            : "FAIL: the engine thread allocated " + engineBytes + " bytes");
        System.exit(engineBytes == 0 ? 0 : 1);
    }

    private static void run(final EngineLoopBenchmark b, final boolean tunToUdp) throws IOException {
        if (tunToUdp) {
            b.tunToUdp();
        } else {
            b.udpToTun();
        }
    }
}
