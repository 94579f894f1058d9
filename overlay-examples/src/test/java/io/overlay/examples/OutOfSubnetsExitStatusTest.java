package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A Network with no free subnet ends the launcher with its own documented status ({@link OverlayMain#OUT_OF_SUBNETS}),
 * which must not be the status the JVM ends with under the packaged launcher's options when the heap runs out
 * ({@code -XX:+ExitOnOutOfMemoryError} in {@code packaging/deb/overlay.sh}: HotSpot exits 3): a supervisor or an
 * operator reading {@code systemctl status} could not tell "add subnets" from "give it more heap".
 */
@Privileged
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OutOfSubnetsExitStatusTest {
    /** The line of {@code overlay.sh} that holds the launcher's default JVM options. */
    private static final Pattern JAVA_OPTS = Pattern.compile("(?m)^java_opts='([^']*)'$");

    @Test
    void noFreeSubnetExitsWithItsOwnStatusNotTheJvmsOutOfMemoryOne() throws Exception {
        final int outOfMemory = outOfMemoryStatusWithPackagedOptions();
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-out-of-subnets")) {
            // /28: SubnetLen 30, subnets 100.64.0.4, .8, .12, all reserved for other hosts
            overlay.etcdctl("put", "/coreos.com/network/config", "{\"Network\":\"100.64.0.0/28\"}");
            for (int s = 4; s <= 12; s += 4) {
                overlay.etcdctl("put", "/coreos.com/network/subnets/100.64.0." + s + "-30",
                    "{\"PublicIP\":\"198.18.0." + (100 + s) + "\"}");
            }
            final Netns ns = overlay.underlayHost(1, 1500);
            final Path subnetEnv = overlay.dir().resolve("h1").resolve("subnet.env");
            final Path log = overlay.logs().resolve("h1.log");
            final Process p = ns.spawn(new ProcessBuilder(OverlayHosts.java(OverlayMain.class.getName(),
                "--etcd-endpoints", OverlayHosts.ETCD, "--iface", "eth0", "--subnet-file", subnetEnv.toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile()));
            try {
                assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("exits within 60 s").isTrue();
                final String out = Files.readString(log);
                System.out.printf("out of subnets: exit %d; out of memory (packaged options): exit %d%n",
                    p.exitValue(), outOfMemory);
                assertThat(out).contains("no free /30 in 100.64.0.4-100.64.0.12 of 100.64.0.0/28: 3 of 3 in use");
                assertThat(p.exitValue()).as("exit status; log:%n%s", out).isEqualTo(OverlayMain.OUT_OF_SUBNETS);
                assertThat(p.exitValue()).as("distinct from the JVM's exit on OutOfMemoryError")
                    .isNotEqualTo(outOfMemory);
                assertThat(ns.exec("ip", "-o", "link", "show", "type", "tun")).as("no TUN").isEmpty();
                assertThat(subnetEnv).doesNotExist();
            } finally {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    /** Runs {@link ExhaustHeap} with overlay.sh's default JVM options and a small heap; returns its exit status. */
    private static int outOfMemoryStatusWithPackagedOptions() throws Exception {
        final Matcher m = JAVA_OPTS.matcher(Files.readString(Path.of("..", "packaging", "deb", "overlay.sh")));
        assertThat(m.find()).as("java_opts line of overlay.sh").isTrue();
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString()));
        for (String opt : m.group(1).split(" ")) {
            // a JVM without the option (17 GA..17.0.8) would refuse to start; overlay.sh drops it there too
            if (!opt.startsWith("-XX:TrimNativeHeapInterval") || Runtime.version().compareTo(
                Runtime.Version.parse("17.0.9")) >= 0) {
                cmd.add(opt);
            }
        }
        assertThat(cmd).contains("-XX:+ExitOnOutOfMemoryError");
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isEmpty()) {
            cp = System.getProperty("java.class.path");
        }
        cmd.addAll(List.of("-Xms8m", "-Xmx8m", "-cp", cp, ExhaustHeap.class.getName()));
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("heap exhausted within 30 s").isTrue();
        final String out = new String(p.getInputStream().readAllBytes());
        assertThat(out).as("ended by the OutOfMemoryError").contains("Terminating due to java.lang.OutOfMemoryError");
        return p.exitValue();
    }

    /** Fills the heap until the JVM gives up. */
    static final class ExhaustHeap {
        private ExhaustHeap() {
        }

        public static void main(final String[] args) {
            final List<long[]> held = new ArrayList<>();
            while (true) {
                held.add(new long[1 << 16]);
            }
        }
    }
}
