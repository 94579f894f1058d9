package io.overlay.benchmarks;

import io.overlay.udp.crypto.CipherGcm;
import io.overlay.udp.crypto.HostKeyPair;
import io.overlay.udp.crypto.IntrinsicGcm;
import io.overlay.udp.crypto.PacketOpener;
import io.overlay.udp.crypto.PacketSealer;
import io.overlay.udp.crypto.PeerSession;
import io.overlay.udp.crypto.SealedFrame;
import io.overlay.udp.crypto.SessionKeys;
import java.nio.ByteBuffer;
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
 * Sealing and opening one inner packet of {@link #size} bytes as the engine does ({@link PacketSealer},
 * {@link PacketOpener}: AES-256-GCM, direct buffers in and out, a fresh counter per packet), with either
 * implementation ({@link #impl}). {@link #seal} seals one packet; {@link #sealAndOpen} seals one and opens it in place (a frame can be opened
 * only once: the replay window refuses it after), so open alone is the difference. Average time per operation;
 * {@code -prof gc} must show 0 B/op for {@code intrinsics}; {@code cipher} shows what the JDK allocates per
 * {@code Cipher.init} (see {@code docs/performance.md}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--add-opens=java.base/com.sun.crypto.provider=ALL-UNNAMED")
public class SealBenchmark {
    /**
     * The AES-GCM implementation: {@code intrinsics} ({@link IntrinsicGcm}, the JDK's AES-CTR and GHASH stubs called
     * directly, what the engine uses when the JVM allows) or {@code cipher} ({@link CipherGcm}, the public
     * {@code Cipher} API initialised per packet, the fallback).
     */
    @Param({"intrinsics", "cipher"})
    public String impl;

    /** Inner packet size in bytes: a TCP ACK, a mid-size packet, a full 1,443-byte MTU packet, a GSO-sized one. */
    @Param({"64", "512", "1443", "8192"})
    public int size;

    private PeerSession sender;
    private PeerSession receiver;
    private PacketSealer sealer;
    private PacketOpener opener;
    private final ByteBuffer packet = ByteBuffer.allocateDirect(65536);
    private final ByteBuffer frame = ByteBuffer.allocateDirect(65536 + SealedFrame.OVERHEAD);

    /** Two key pairs and the sessions between them; a packet of {@link #size} bytes. */
    @Setup
    public void setUp() {
        if ("intrinsics".equals(impl) && !IntrinsicGcm.available()) {
            throw new IllegalStateException(IntrinsicGcm.unavailableReason());
        }
        sealer = new PacketSealer("intrinsics".equals(impl) ? new IntrinsicGcm() : new CipherGcm());
        opener = new PacketOpener("intrinsics".equals(impl) ? new IntrinsicGcm() : new CipherGcm());
        final HostKeyPair a = HostKeyPair.generate();
        final HostKeyPair b = HostKeyPair.generate();
        sender = new PeerSession(b.publicKey(), SessionKeys.derive(a, b.publicKey(), new byte[0]));
        receiver = new PeerSession(a.publicKey(), SessionKeys.derive(b, a.publicKey(), new byte[0]));
        for (int i = 0; i < size; i++) {
            packet.put(i, (byte) (i * 31));
        }
        packet.put(0, (byte) 0x45);
    }

    /** Seals one packet; returns the frame length. */
    @Benchmark
    public int seal() {
        return sealer.seal(sender, packet, 0, size, frame, 0);
    }

    /** Seals one packet and opens it in place; returns the inner length (negative if it failed). */
    @Benchmark
    public int sealAndOpen() {
        final int n = sealer.seal(sender, packet, 0, size, frame, 0);
        final int inner = opener.open(receiver, frame, 0, n);
        if (inner != size) {
            throw new IllegalStateException("open returned " + inner);
        }
        return inner;
    }
}
