package io.overlay.tun;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.overlay.testing.Netns;
import java.io.IOException;

/** Reads {@code ip -j ...} output inside a test namespace (tests only; the library never runs {@code ip}). */
final class IpJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private IpJson() {
    }

    static JsonNode link(final Netns ns, final String dev) throws IOException {
        return JSON.readTree(ns.exec("ip", "-j", "-d", "link", "show", "dev", dev)).get(0);
    }

    static JsonNode addr(final Netns ns, final String dev) throws IOException {
        return JSON.readTree(ns.exec("ip", "-j", "-4", "addr", "show", "dev", dev)).get(0);
    }

    static JsonNode routes(final Netns ns, final String dev) throws IOException {
        return JSON.readTree(ns.exec("ip", "-j", "-4", "route", "show", "dev", dev));
    }

    static boolean linkExists(final Netns ns, final String dev) throws IOException {
        return JSON.readTree(ns.exec("ip", "-j", "link", "show")).findValuesAsText("ifname").contains(dev);
    }
}
