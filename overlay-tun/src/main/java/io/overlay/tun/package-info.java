/** overlay tun (to be built out). */
package io.overlay.tun;
