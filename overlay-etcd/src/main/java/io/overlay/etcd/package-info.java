/**
 * The subnet allocator on etcd v3, schema-compatible with flanneld ≥ 0.18: {@link io.overlay.etcd.EtcdSubnetAllocator}
 * (implements {@link io.overlay.core.spi.SubnetAllocator}) configured by {@link io.overlay.etcd.EtcdSettings}. The
 * public API uses JDK and overlay-core types only.
 *
 * <p>Inside, split as flannel splits pkg/subnet/etcd: {@code SubnetRegistry} is the etcd requests as an interface, and
 * {@code GatewayRegistry}, its one implementation, speaks etcd's v3 JSON gateway over the JDK's HTTP client
 * ({@code EtcdGateway}, {@code GatewayWatch}): no gRPC stack in the agent. On top of it: {@code NetworkConfigWaiter} (the config wait and its diagnostics), {@code LeaseAcquirer} (the
 * acquisition policy), {@code LeaseKeeper} (renewal, adoption, loss and re-acquisition), {@code PeerWatch} (listing,
 * watch, re-lists and backoff) and {@code PeerSet} (the pure peer diff, no I/O). {@code ControlThread} runs them on
 * one control thread and calls the listener on a second one.
 */
package io.overlay.etcd;
