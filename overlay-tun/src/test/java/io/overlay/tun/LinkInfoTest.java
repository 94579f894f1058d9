package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Parsing an RTM_NEWLINK answer with nested IFLA_LINKINFO / IFLA_INFO_DATA (IFLA_TUN_*) attributes. */
class LinkInfoTest {
    @Test
    void parsesIndexNameMtuKindAndTunData() {
        final ByteBuffer b = ByteBuffer.allocate(256).order(ByteOrder.nativeOrder());
        b.position(16);                                   // nlmsghdr filled in at the end
        b.put((byte) 0).put((byte) 0).putShort((short) 0xfffe); // ifinfomsg: family, pad, type (ARPHRD_NONE)
        b.putInt(9).putInt(0x1091).putInt(0);             // index 9, flags UP|POINTOPOINT|NOARP..., change
        attr(b, 0x8000 | 17, new byte[4]);                // an unrelated attribute with a flag bit set, skipped
        attr(b, Rtnetlink.IFLA_IFNAME, "ovmq0\0".getBytes(StandardCharsets.US_ASCII));
        attr(b, Rtnetlink.IFLA_MTU, le(1472));
        final int linkInfo = b.position();
        b.putShort((short) 0).putShort((short) (0x8000 | Rtnetlink.IFLA_LINKINFO)); // NLA_F_NESTED
        attr(b, Rtnetlink.IFLA_INFO_KIND, "tun\0".getBytes(StandardCharsets.US_ASCII));
        final int data = b.position();
        b.putShort((short) 0).putShort((short) (0x8000 | Rtnetlink.IFLA_INFO_DATA));
        attr(b, Rtnetlink.IFLA_TUN_TYPE, new byte[] {1});
        attr(b, Rtnetlink.IFLA_TUN_PERSIST, new byte[] {1});
        attr(b, Rtnetlink.IFLA_TUN_MULTI_QUEUE, new byte[] {1});
        attr(b, Rtnetlink.IFLA_TUN_NUM_QUEUES, le(2));
        b.putShort(data, (short) (b.position() - data));
        b.putShort(linkInfo, (short) (b.position() - linkInfo));
        b.putInt(0, b.position()).putShort(4, (short) Rtnetlink.RTM_NEWLINK);

        final LinkInfo link = LinkInfo.parse(b, 0);
        assertThat(link).isEqualTo(new LinkInfo(9, "ovmq0", 1472, 0x1091, "tun", 1, true, true, 2));
        assertThat(link.isTun()).isTrue();
        assertThat(link.describeKind()).isEqualTo("a TUN device");
    }

    @Test
    void linkWithoutKindIsNotTun() {
        final ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.nativeOrder());
        b.position(16);
        b.putInt(0).putInt(1).putInt(0x49).putInt(0);
        attr(b, Rtnetlink.IFLA_IFNAME, "lo\0".getBytes(StandardCharsets.US_ASCII));
        b.putInt(0, b.position());
        final LinkInfo link = LinkInfo.parse(b, 0);
        assertThat(link.name()).isEqualTo("lo");
        assertThat(link.kind()).isNull();
        assertThat(link.isTun()).isFalse();
        assertThat(link.describeKind()).contains("physical or loopback");
    }

    private static byte[] le(final int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(v).array();
    }

    private static void attr(final ByteBuffer b, final int type, final byte[] payload) {
        b.putShort((short) (4 + payload.length)).putShort((short) type).put(payload);
        while ((b.position() & 3) != 0) {
            b.put((byte) 0);
        }
    }
}
