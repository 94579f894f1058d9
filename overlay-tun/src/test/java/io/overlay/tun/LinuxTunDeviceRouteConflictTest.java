package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.LogCapture;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A Network route that already exists (EEXIST, left as it is, as flannel does) is checked: one that leaves through
 * another device black-holes the overlay's traffic and gets a WARN naming it; one through the TUN itself does not.
 */
@Privileged
class LinuxTunDeviceRouteConflictTest {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");

    @Test
    void anExistingNetworkRouteThroughAnotherDeviceIsReported() throws Exception {
        try (Netns ns = Netns.create()) {
            ns.exec("ip", "link", "add", "ovrc0", "type", "veth", "peer", "name", "ovrc0p");
            ns.exec("ip", "link", "set", "ovrc0", "up");
            ns.exec("ip", "route", "add", NETWORK.toString(), "dev", "ovrc0");
            try (LinuxTunDevice tun = NetnsThread.call(ns.name(), () -> new LinuxTunDeviceFactory().open("ovrc1", 1))) {
                try (LogCapture log = new LogCapture()) {
                    tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.5.0/32"), 1472, List.of(NETWORK)));
                    assertThat(log.warnings()).anyMatch(m -> m.contains("route " + NETWORK + " already exists but "
                        + "does not leave through TUN device ovrc1"));
                }
                // the route was left as it is
                assertThat(ns.exec("ip", "-4", "route", "show", NETWORK.toString())).contains("dev ovrc0");

                // configured again once the route is the TUN's own: EEXIST, nothing to warn about
                ns.exec("ip", "route", "replace", NETWORK.toString(), "dev", "ovrc1");
                try (LogCapture again = new LogCapture()) {
                    tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.5.0/32"), 1472, List.of(NETWORK)));
                    assertThat(again.count("does not leave through")).as("at any level").isZero();
                }
            }
        }
    }
}
