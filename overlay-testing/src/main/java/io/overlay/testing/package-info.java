/**
 * Test support shared by every module's tests (in {@code test} scope) and the benchmarks; never shipped.
 *
 * <ul>
 *   <li>Isolation: {@link io.overlay.testing.Netns} (network namespaces the test owns),
 *       {@link io.overlay.testing.EtcdServer} and {@link io.overlay.testing.EtcdCluster} (real etcd members on
 *       loopback), {@link io.overlay.testing.Privileged} (tests that need root fail, never skip, without it).</li>
 *   <li>Packets: {@link io.overlay.testing.TestPackets}, the one packet builder, with its own RFC 1071 checksum.</li>
 *   <li>Devices and sockets: {@link io.overlay.testing.SocketPairTun} (a TUN stand-in),
 *       {@link io.overlay.testing.TunFd} (a raw TUN in a namespace), {@link io.overlay.testing.TestLibc} (the tests'
 *       one libc binding).</li>
 *   <li>Logs: {@link io.overlay.testing.LogCapture} over logback, the tests' logging backend, configured by this
 *       module's {@code logback-test.xml}.</li>
 * </ul>
 *
 * <p>The network rule every test keeps: inside a test namespace only 198.18.0.0/15 (underlay) and 100.64.0.0/10
 * (overlay) addresses; outside, loopback only; the root namespace's interfaces, routes, firewall and sysctls are never
 * changed.
 */
package io.overlay.testing;
