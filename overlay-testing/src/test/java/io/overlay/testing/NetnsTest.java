package io.overlay.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@link Netns#call} runs inside the namespace only, and {@link TunFd} makes its device there. */
@Privileged
class NetnsTest {
    private static final Path OWN_NAMESPACE = Path.of("/proc/thread-self/ns/net");

    @Test
    void callRunsInTheNamespaceAndLeavesTheCallerWhereItWas() throws Exception {
        final Path before = Files.readSymbolicLink(OWN_NAMESPACE);
        try (Netns ns = Netns.create()) {
            final Path inside = ns.call(() -> Files.readSymbolicLink(OWN_NAMESPACE));
            assertThat(inside).isNotEqualTo(before);
            assertThat(ns.call(() -> Files.readSymbolicLink(OWN_NAMESPACE))).as("the same namespace each time")
                .isEqualTo(inside);
            assertThat(Files.readSymbolicLink(OWN_NAMESPACE)).isEqualTo(before);
            assertThatThrownBy(() -> ns.call(() -> {
                throw new IOException("from the task");
            })).isInstanceOf(IOException.class).hasMessage("from the task");
        }
    }

    /**
     * A test cut short by an interrupt (JUnit's {@code @Timeout} interrupts the test thread; {@link Netns#run} keeps
     * the interrupt when it ends a command early) closes its namespaces with the interrupt still set: every wait in
     * the clean-up would then fail at once, the namespace stay behind, and the shutdown hook no longer know it.
     */
    @Test
    void closeDeletesTheNamespaceAndItsProcessesOnAnInterruptedThreadAndKeepsTheInterrupt() throws Exception {
        final Netns ns = Netns.create();
        try {
            final Process sleeper = ns.spawn(new ProcessBuilder("sleep", "30"));
            Thread.currentThread().interrupt();
            try {
                ns.close();
            } finally {
                assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();
            }
            assertThat(sleeper.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)).as("process ended").isTrue();
            assertThat(Netns.run("ip", "netns", "list")).doesNotContain(ns.name());
        } finally {
            if (Netns.run("ip", "netns", "list").contains(ns.name())) {
                Netns.run("ip", "netns", "del", ns.name()); // left behind by a close that failed
            }
        }
    }

    @Test
    void tunFdCreatesItsDeviceInTheNamespaceAndMovesPacketsBothWays() throws Exception {
        try (Netns ns = Netns.create(); TunFd tun = TunFd.create(ns, "ovtfd0", -1)) {
            assertThat(ns.exec("ip", "link", "show", "ovtfd0")).contains("ovtfd0");
            assertThat(Netns.run("ip", "-o", "link", "show")).doesNotContain("ovtfd0");
            ns.exec("ip", "addr", "add", "100.64.7.1/24", "dev", "ovtfd0");
            ns.exec("ip", "link", "set", "ovtfd0", "up");
            ns.exec("ip", "route", "add", "100.64.8.0/24", "dev", "ovtfd0");

            // a datagram the namespace routes into the TUN is read whole, as the kernel built it
            ns.exec("sh", "-c", "echo hi | socat - UDP4-SENDTO:100.64.8.9:7777,sourceport=5555");
            final ByteBuffer buf = ByteBuffer.allocateDirect(2048);
            int n = 0;
            for (int i = 0; i < 50 && n == 0; i++) {
                n = tun.read(buf, 0, 2048, 100);
                if (n > 0 && (buf.get(0) & 0xf0) != 0x40) {
                    n = 0; // not IPv4 (e.g. nothing else should come, but be sure)
                }
            }
            final byte[] p = TestPackets.copy(buf, 0, n);
            assertThat(TestPackets.ipChecksumOk(p)).isTrue();
            assertThat(TestPackets.l4ChecksumOk(p)).isTrue();
            assertThat(TestPackets.u32(p, 16)).isEqualTo(0x64400809);
            assertThat(TestPackets.u16(p, 22)).isEqualTo(7777);

            // a packet written to the TUN reaches a socket in the namespace
            final Process receiver = ns.spawn(new ProcessBuilder("socat", "-u", "UDP4-RECV:6666", "-")
                .redirectErrorStream(true));
            final byte[] reply = TestPackets.udp(0x64400809, 4444, 0x64400701, 6666, "ok".getBytes());
            final ByteBuffer out = ByteBuffer.allocateDirect(reply.length).put(reply);
            String got = "";
            for (int i = 0; i < 50 && got.isEmpty(); i++) {
                tun.write(out, 0, reply.length); // until socat has bound its socket
                Thread.sleep(100);
                if (receiver.getInputStream().available() >= 2) {
                    got = new String(receiver.getInputStream().readNBytes(2));
                }
            }
            assertThat(got).isEqualTo("ok");
        }
    }
}
