/** overlay udp (to be built out). */
package io.overlay.udp;
