package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The missing-permission path for real: a child JVM started by {@code setpriv} without CAP_NET_ADMIN (dropped from
 * the inheritable and bounding sets, so even root lacks it), inside a namespace of the test's own.
 */
@Privileged
class WithoutNetAdminTest {
    @Test
    void withoutCapNetAdminTunIsUnavailableAndOpenSaysWhatIsNeeded() throws Exception {
        try (Netns ns = Netns.create()) {
            final String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            final Process p = ns.spawn(new ProcessBuilder("setpriv", "--inh-caps=-net_admin",
                "--bounding-set=-net_admin", java, "-cp", System.getProperty("java.class.path"),
                WithoutNetAdminProbe.class.getName()).redirectErrorStream(true));
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.exitValue()).as(out).isZero();
            final Map<String, String> result = new HashMap<>();
            for (String line : out.split("\n")) {
                final int eq = line.indexOf('=');
                if (eq > 0) {
                    result.put(line.substring(0, eq), line.substring(eq + 1));
                }
            }
            assertThat(result).as(out).containsEntry("available", "false")
                .containsEntry("reason", "PERMISSION_DENIED").containsEntry("errno", "1");
            assertThat(result.get("cause")).contains("CAP_NET_ADMIN");
            assertThat(result.get("message")).contains("ovperm%d", "EPERM", "root", "CAP_NET_ADMIN");
        }
    }
}
