/**
 * The subnet allocator on etcd v3, schema-compatible with flanneld ≥ 0.18: {@link io.overlay.etcd.EtcdSubnetAllocator}
 * (implements {@link io.overlay.core.spi.SubnetAllocator}) configured by {@link io.overlay.etcd.EtcdSettings}. jetcd,
 * gRPC and Netty stay behind package-private classes; the public API uses JDK and overlay-core types only.
 */
package io.overlay.etcd;
