package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import io.overlay.testing.TestPackets;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Real packets through a real TUN device in a namespace of the test's own. */
@Privileged
class LinuxTunDevicePacketTest {
    private static final int TUN_ADDRESS = Ipv4.parse("100.64.16.0");
    private static final int REMOTE = Ipv4.parse("100.64.5.6");
    private static final long DEADLINE_NANOS = TimeUnit.SECONDS.toNanos(5);

    private Netns ns;
    private LinuxTunDevice tun;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(2048).order(ByteOrder.BIG_ENDIAN);

    @BeforeEach
    void openDevice() throws Exception {
        ns = Netns.create();
        tun = NetnsThread.call(ns.name(), () -> new LinuxTunDeviceFactory().open("flannel%d", 1));
        tun.configure(new TunSetup(Ipv4Prefix.of(TUN_ADDRESS, 32), 1472,
            List.of(Ipv4Prefix.parse("100.64.0.0/16"))));
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            tun.close();
        } finally {
            ns.close();
        }
    }

    @Test
    void pingToARoutedAddressIsReadFromTheDeviceAndTheWrittenReplyCompletesThePing() throws Exception {
        final Process ping = ns.spawn(new ProcessBuilder("ping", "-c1", "-W3", "-s", "56", "100.64.5.6")
            .redirectErrorStream(true));
        final int n = readIpv4(0);
        assertThat(n).isEqualTo(20 + 8 + 56);
        assertThat(buffer.position()).isEqualTo(n);
        buffer.flip();
        assertThat(TestPackets.version(buffer)).isEqualTo(4);
        assertThat(TestPackets.totalLength(buffer)).isEqualTo(n);
        assertThat(TestPackets.ipChecksumOk(buffer)).isTrue();
        assertThat(TestPackets.protocol(buffer)).isEqualTo(TestPackets.PROTO_ICMP);
        assertThat(Ipv4.format(TestPackets.dst(buffer))).isEqualTo("100.64.5.6");
        assertThat(Ipv4.format(TestPackets.src(buffer))).isEqualTo("100.64.16.0");
        assertThat(buffer.get(TestPackets.ihl(buffer))).as("ICMP type: echo request").isEqualTo((byte) 8);

        TestPackets.echoReplyInPlace(buffer);
        assertThat(tun.write(0, buffer)).isEqualTo(n);
        assertThat(buffer.remaining()).isZero();
        assertThat(ping.waitFor(10, TimeUnit.SECONDS)).isTrue();
        final String out = new String(ping.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(ping.exitValue()).as(out).isZero();
        assertThat(out).contains("1 received");
    }

    @Test
    void writtenUdpDatagramIsDeliveredToASocketInTheNamespace() throws Exception {
        try (DatagramChannel receiver = NetnsThread.call(ns.name(),
            () -> DatagramChannel.open().bind(new InetSocketAddress("100.64.16.0", 5555)))) {
            receiver.socket().setSoTimeout(5000);
            final byte[] payload = "hello overlay".getBytes(StandardCharsets.US_ASCII);
            buffer.clear();
            buffer.put(TestPackets.udp(REMOTE, 40000, TUN_ADDRESS, 5555, payload)).flip();
            assertThat(tun.write(0, buffer)).isEqualTo(28 + payload.length);

            final byte[] got = new byte[100];
            final java.net.DatagramPacket packet = new java.net.DatagramPacket(got, got.length);
            receiver.socket().receive(packet);
            assertThat(new String(got, 0, packet.getLength(), StandardCharsets.US_ASCII)).isEqualTo("hello overlay");
            assertThat(packet.getAddress().getHostAddress()).isEqualTo("100.64.5.6");
            assertThat(packet.getPort()).isEqualTo(40000);
        }
    }

    @Test
    void datagramWithABadUdpChecksumIsNotDelivered() throws Exception {
        try (DatagramChannel receiver = NetnsThread.call(ns.name(),
            () -> DatagramChannel.open().bind(new InetSocketAddress("100.64.16.0", 5556)))) {
            receiver.socket().setSoTimeout(500);
            buffer.clear();
            buffer.put(TestPackets.udp(REMOTE, 40000, TUN_ADDRESS, 5556, new byte[] {1, 2, 3, 4})).flip();
            buffer.put(buffer.limit() - 1, (byte) 5); // corrupt the payload after checksumming
            assertThat(tun.write(0, buffer)).isEqualTo(32);
            assertThatThrownBy(() -> receiver.socket().receive(new java.net.DatagramPacket(new byte[10], 10)))
                .isInstanceOf(SocketTimeoutException.class);
        }
    }

    @Test
    void readReturnsZeroWhenNothingIsWaiting() throws Exception {
        buffer.clear();
        // IPv6 is disabled on the device, so nothing arrives by itself
        for (int i = 0; i < 3; i++) {
            assertThat(tun.read(0, buffer)).isZero();
            assertThat(buffer.position()).isZero();
            Thread.sleep(50);
        }
    }

    @Test
    void ioNeedsADirectBufferAndAnOpenDeviceAndAValidQueue() throws Exception {
        assertThatThrownBy(() -> tun.read(0, ByteBuffer.allocate(100)))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("direct");
        assertThatThrownBy(() -> tun.read(1, buffer)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> tun.fileDescriptor(-1)).isInstanceOf(IndexOutOfBoundsException.class);
        tun.close();
        assertThatThrownBy(() -> tun.read(0, buffer)).isInstanceOf(ClosedChannelException.class);
        assertThatThrownBy(() -> tun.write(0, buffer)).isInstanceOf(ClosedChannelException.class);
    }

    /** Reads until an IPv4 packet arrives (bounded by 5 s); returns its length, the buffer's position after it. */
    private int readIpv4(final int queue) throws Exception {
        final long end = System.nanoTime() + DEADLINE_NANOS;
        while (System.nanoTime() < end) {
            buffer.clear();
            final int n = tun.read(queue, buffer);
            if (n > 0 && TestPackets.version(buffer) == 4) {
                return n;
            }
            if (n == 0) {
                Thread.sleep(5);
            }
        }
        throw new AssertionError("no IPv4 packet on queue " + queue + " within 5 s");
    }
}
