/**
 * Linux TUN devices for overlay: the control plane through JNA, packet I/O through Netty's JNI file descriptors.
 *
 * <ul>
 *   <li>{@link io.overlay.tun.LinuxTunDeviceFactory} opens a device ({@code IFF_TUN|IFF_NO_PI}, a name such as
 *       {@code flannel0} or a template such as {@code flannel%d}, optionally N queues with {@code IFF_MULTI_QUEUE})
 *       or attaches to one made by {@code ip tuntap add}. It is the {@link io.overlay.core.spi.TunDeviceFactory} found by
 *       {@link java.util.ServiceLoader}.</li>
 *   <li>{@link io.overlay.tun.LinuxTunDevice} is the open device: {@code configure} sets address, MTU, link up and
 *       routes over rtnetlink (flannel's sequence, {@code docs/flannel-compatibility.md#tun-device});
 *       {@code fileDescriptor(q)} gives the raw non-blocking descriptor a packet engine registers on its epoll loop;
 *       {@code read}/{@code write} move one packet through a direct buffer without allocation.</li>
 *   <li>{@link io.overlay.tun.Tun} says whether TUN is usable here (Linux, {@code /dev/net/tun}, native libraries,
 *       CAP_NET_ADMIN), in the style of Netty's {@code Epoll}.</li>
 *   <li>{@link io.overlay.tun.NetnsThread} runs code inside a named network namespace on a fresh thread, which is
 *       how tests create devices and sockets in namespaces of their own.</li>
 *   <li>{@link io.overlay.tun.TunException} carries a {@link io.overlay.tun.TunException.Reason} and the errno of a
 *       failure; its message says what to do (e.g. "needs root or CAP_NET_ADMIN").</li>
 * </ul>
 *
 * <p>Nothing here runs {@code ip} or any other program. Per-packet TUN reads and writes never go through JNA, whose
 * calls cost tens of nanoseconds more than JNI: they use Netty's JNI {@code FileDescriptor}. (overlay-udp's
 * {@code recvmmsg}/{@code sendmmsg} do use JNA, one call per batch of datagrams.)
 */
package io.overlay.tun;
