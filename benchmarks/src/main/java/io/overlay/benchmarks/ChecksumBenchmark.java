package io.overlay.benchmarks;

import io.overlay.udp.wire.InetChecksum;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The Internet checksum sum ({@link InetChecksum#sum}) over {@link #bytes} bytes of a big-endian direct buffer (the
 * engine's buffers), at an odd offset half of the time as TCP payloads after a 52-byte header are not 8-aligned:
 * the pass over every payload byte that the software segmenter and the receive coalescer make. Reports
 * nanoseconds per sum; {@code -prof gc} must show 0 B/op.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class ChecksumBenchmark {
    /** Bytes summed: a TCP segment's payload at MSS 1420, and a 64 KiB super-packet. */
    @Param({"1420", "65483"})
    public int bytes;

    private final ByteBuffer buf = ByteBuffer.allocateDirect(65536 + 64).order(ByteOrder.BIG_ENDIAN);
    private int round;

    /** Fills the buffer with random bytes. */
    @Setup
    public void setup() {
        final SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < buf.capacity(); i++) {
            buf.put(i, (byte) random.nextInt(256));
        }
    }

    /**
     * One sum, at offset 52 or 53.
     *
     * @return the unfolded sum (consumed by JMH)
     */
    @Benchmark
    public long sum() {
        return InetChecksum.sum(buf, 52 + (round++ & 1), bytes);
    }
}
