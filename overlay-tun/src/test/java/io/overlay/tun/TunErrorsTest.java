package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * errno to message mapping of open/TUNSETIFF failures. The non-root case cannot be produced as root, so it is
 * checked here; the others are also produced for real in {@link LinuxTunDeviceFactoryTest}.
 */
class TunErrorsTest {
    private static LinkInfo tun(final boolean multiQueue) {
        return new LinkInfo(7, "ov0", 1500, 0, "tun", Ifreq.IFF_TUN, multiQueue, true, 1);
    }

    @Test
    void epermAndEaccesSayRootOrCapNetAdmin() {
        for (int errno : new int[] {LibC.EPERM, LibC.EACCES}) {
            final TunException e = TunErrors.setIffFailed("flannel%d", false, errno, null);
            assertThat(e.reason()).isEqualTo(TunException.Reason.PERMISSION_DENIED);
            assertThat(e.errno()).isEqualTo(errno);
            assertThat(e.getMessage()).contains("flannel%d", "root", "CAP_NET_ADMIN");
        }
        final TunException open = TunErrors.openFailed(LibC.EACCES);
        assertThat(open.reason()).isEqualTo(TunException.Reason.PERMISSION_DENIED);
        assertThat(open.getMessage()).contains("/dev/net/tun", "EACCES", "CAP_NET_ADMIN");
    }

    @Test
    void epermTextIncludesTheSymbolAndLibcText() {
        assertThat(TunErrors.setIffFailed("x", false, LibC.EPERM, null).getMessage())
            .contains("EPERM, Operation not permitted");
    }

    @Test
    void missingDriverSaysHowToGetIt() {
        final TunException e = TunErrors.openFailed(LibC.ENOENT);
        assertThat(e.reason()).isEqualTo(TunException.Reason.UNAVAILABLE);
        assertThat(e.getMessage()).contains("modprobe tun", "--device /dev/net/tun");
    }

    @Test
    void nameTakenByAnotherKindNamesTheKind() {
        final LinkInfo veth = new LinkInfo(3, "ov0", 1500, 0, "veth", 0, false, false, 0);
        final TunException e = TunErrors.setIffFailed("ov0", false, LibC.EINVAL, veth);
        assertThat(e.reason()).isEqualTo(TunException.Reason.NAME_TAKEN);
        assertThat(e.getMessage()).contains("\"ov0\"", "a veth device", "ifindex 3", "choose another name");
        final LinkInfo physical = new LinkInfo(2, "eth0", 1500, 0, null, 0, false, false, 0);
        assertThat(TunErrors.setIffFailed("eth0", false, LibC.EINVAL, physical).reason())
            .isEqualTo(TunException.Reason.NAME_TAKEN);
        final LinkInfo tap = new LinkInfo(4, "tap0", 1500, 0, "tun", Ifreq.IFF_TAP, false, true, 0);
        assertThat(TunErrors.setIffFailed("tap0", false, LibC.EINVAL, tap).getMessage()).contains("a TAP device");
    }

    @Test
    void multiQueueMismatchSaysWhichWayAndWhatToDo() {
        final TunException single = TunErrors.setIffFailed("ov0", false, LibC.EINVAL, tun(true));
        assertThat(single.reason()).isEqualTo(TunException.Reason.FLAGS_MISMATCH);
        assertThat(single.getMessage()).contains("is multi-queue", "without IFF_MULTI_QUEUE", "multiQueue=true");
        final TunException multi = TunErrors.setIffFailed("ov0", true, LibC.EINVAL, tun(false));
        assertThat(multi.reason()).isEqualTo(TunException.Reason.FLAGS_MISMATCH);
        assertThat(multi.getMessage()).contains("is single-queue", "with IFF_MULTI_QUEUE", "multi_queue");
    }

    @Test
    void busySingleQueueDeviceSaysItIsAttachedElsewhere() {
        final TunException e = TunErrors.setIffFailed("ov0", false, LibC.EBUSY, tun(false));
        assertThat(e.reason()).isEqualTo(TunException.Reason.DEVICE_BUSY);
        assertThat(e.getMessage()).contains("already attached");
    }

    @Test
    void otherErrorsKeepTheErrno() {
        final TunException e = TunErrors.setIffFailed("flannel%d", false, LibC.ENFILE, null);
        assertThat(e.errno()).isEqualTo(LibC.ENFILE);
        assertThat(e.getMessage()).contains("no free index");
        assertThat(TunErrors.setIffFailed("x", false, LibC.EINVAL, null).reason())
            .isEqualTo(TunException.Reason.INVALID_NAME);
        assertThat(TunErrors.setIffFailed("x", false, LibC.ENOMEM, null).reason())
            .isEqualTo(TunException.Reason.OTHER);
    }
}
