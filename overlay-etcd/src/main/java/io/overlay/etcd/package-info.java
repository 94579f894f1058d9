/** overlay etcd (to be built out). */
package io.overlay.etcd;
