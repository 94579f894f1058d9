/**
 * flannel's formats and rules, kept byte-compatible with flanneld: the network config stored at
 * {@code <prefix>/config}, leases and their attributes, lease keys under {@code <prefix>/subnets/}, the
 * {@code subnet.env} file, flannel's MTU and address rules, and the choice of the underlay interface.
 * See {@code docs/flannel-compatibility.md} for the flannel sources each rule follows.
 */
package io.overlay.core.flannel;
