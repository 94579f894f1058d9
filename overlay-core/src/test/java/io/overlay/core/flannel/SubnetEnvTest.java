package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4Prefix;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** flannel's subnet.env ({@code docs/flannel-compatibility.md#subnet-file}); {@code APPENDIX} is its example file. */
class SubnetEnvTest {
    private static final String APPENDIX = "FLANNEL_NETWORK=10.10.0.0/16\n"
        + "FLANNEL_SUBNET=10.10.16.1/24\n"
        + "FLANNEL_MTU=1472\n"
        + "FLANNEL_IPMASQ=false\n";

    @TempDir
    Path dir;

    private static SubnetEnv appendixEnv() {
        return new SubnetEnv(Ipv4Prefix.parse("10.10.0.0/16"), Ipv4Prefix.parse("10.10.16.0/24"),
            FlannelRules.mtu(1500), false);
    }

    @Test
    void rendersTheAppendixVectorInFlannelsOrder() {
        assertThat(appendixEnv().render()).isEqualTo(APPENDIX);
    }

    @Test
    void rendersIpMasqTrueAndSmallSubnets() {
        assertThat(new SubnetEnv(Ipv4Prefix.parse("100.64.0.0/28"), Ipv4Prefix.parse("100.64.0.4/30"), 8972, true)
            .render()).isEqualTo("FLANNEL_NETWORK=100.64.0.0/28\nFLANNEL_SUBNET=100.64.0.5/30\nFLANNEL_MTU=8972\n"
                + "FLANNEL_IPMASQ=true\n");
    }

    @Test
    void refusesValuesItCannotWrite() {
        final Ipv4Prefix net = Ipv4Prefix.parse("10.10.0.0/16");
        assertThatThrownBy(() -> new SubnetEnv(net, Ipv4Prefix.parse("10.10.16.0/31"), 1472, false))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("10.10.16.0/31");
        assertThatThrownBy(() -> new SubnetEnv(net, Ipv4Prefix.parse("10.10.16.0/24"), 0, false))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0");
        assertThatThrownBy(() -> new SubnetEnv(null, net, 1472, false)).isInstanceOf(NullPointerException.class);
    }

    @Test
    void writesTheFileWithMode0644AndNoTemporaryLeftBehind() throws IOException {
        final Path file = dir.resolve("subnet.env");
        appendixEnv().write(file);
        assertThat(Files.readString(file, StandardCharsets.UTF_8)).isEqualTo(APPENDIX);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-r--r--");
        assertThat(listDir()).containsExactly(file);
    }

    @Test
    void createsMissingDirectories() throws IOException {
        final Path file = dir.resolve("run/flannel/subnet.env");
        appendixEnv().write(file);
        assertThat(Files.readString(file)).isEqualTo(APPENDIX);
        assertThat(Files.isDirectory(dir.resolve("run/flannel"))).isTrue();
    }

    @Test
    void replacesAnExistingFile() throws IOException {
        final Path file = dir.resolve("subnet.env");
        Files.writeString(file, "FLANNEL_SUBNET=1.2.3.1/24\nold junk that is longer than the new content ....\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        appendixEnv().write(file);
        assertThat(Files.readString(file)).isEqualTo(APPENDIX);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-r--r--");
        assertThat(listDir()).containsExactly(file);
    }

    @Test
    void aFailedWriteLeavesNoTemporaryFile() throws IOException {
        final Path target = dir.resolve("subnet.env");
        Files.createDirectory(target);
        Files.writeString(target.resolve("occupant"), "x"); // a non-empty directory cannot be replaced by rename
        assertThatThrownBy(() -> appendixEnv().write(target)).isInstanceOf(IOException.class);
        assertThat(listDir()).containsExactly(target);
    }

    /** Readers polling the file while it is rewritten see the old or the new content, never a partial file. */
    @Test
    void readersNeverSeeAPartialFile() throws Exception {
        final Path file = dir.resolve("subnet.env");
        final SubnetEnv a = appendixEnv();
        final SubnetEnv b = new SubnetEnv(Ipv4Prefix.parse("100.64.0.0/10"), Ipv4Prefix.parse("100.64.200.0/24"),
            8972, true);
        a.write(file);
        final AtomicBoolean done = new AtomicBoolean();
        final List<String> bad = new ArrayList<>();
        final int[] reads = new int[1];
        final Thread reader = new Thread(() -> {
            while (!done.get()) {
                try {
                    final String text = Files.readString(file);
                    reads[0]++;
                    if (!text.equals(a.render()) && !text.equals(b.render())) {
                        bad.add(text);
                    }
                } catch (NoSuchFileException e) {
                    bad.add("<missing>");
                } catch (IOException e) {
                    bad.add(e.toString());
                }
            }
        });
        reader.start();
        for (int i = 0; i < 300; i++) {
            (i % 2 == 0 ? b : a).write(file);
        }
        done.set(true);
        reader.join(10_000);
        assertThat(reader.isAlive()).isFalse();
        assertThat(bad).isEmpty();
        assertThat(reads[0]).isPositive();
        assertThat(Files.readString(file)).isEqualTo(a.render());
    }

    @Test
    void readsThePreviousSubnetAsFlanneldDoes() throws IOException {
        final Path file = dir.resolve("subnet.env");
        Files.writeString(file, APPENDIX);
        assertThat(SubnetEnv.readPreviousSubnet(file)).contains(Ipv4Prefix.parse("10.10.16.0/24"));
    }

    @Test
    void roundTrip() throws IOException {
        final Path file = dir.resolve("subnet.env");
        new SubnetEnv(Ipv4Prefix.parse("100.64.0.0/24"), Ipv4Prefix.parse("100.64.0.192/26"), 1472, false)
            .write(file);
        assertThat(SubnetEnv.readPreviousSubnet(file)).contains(Ipv4Prefix.parse("100.64.0.192/26"));
    }

    @Test
    void dotenvSyntaxIsAccepted() throws IOException {
        assertThat(read("# written by hand\n\nexport FLANNEL_NETWORK=\"10.10.0.0/16\"\n"
            + "export FLANNEL_SUBNET=\"10.10.16.1/24\"\r\n")).contains(Ipv4Prefix.parse("10.10.16.0/24"));
        assertThat(read("FLANNEL_SUBNET='100.64.5.1/24'\n")).contains(Ipv4Prefix.parse("100.64.5.0/24"));
        assertThat(read("  FLANNEL_SUBNET = 100.64.5.1/24  \n")).contains(Ipv4Prefix.parse("100.64.5.0/24"));
        assertThat(read("FLANNEL_SUBNET=100.64.5.1/24\nFLANNEL_SUBNET=100.64.6.1/24\n"))
            .as("last assignment wins").contains(Ipv4Prefix.parse("100.64.6.0/24"));
    }

    @Test
    void noPreviousSubnet() throws IOException {
        assertThat(SubnetEnv.readPreviousSubnet(dir.resolve("absent.env"))).isEmpty();
        assertThat(read("")).isEmpty();
        assertThat(read("FLANNEL_NETWORK=10.10.0.0/16\nFLANNEL_MTU=1472\n")).isEmpty();
        assertThat(read("FLANNEL_SUBNET=\n")).isEmpty();
        assertThat(read("FLANNEL_SUBNET=10.10.16.1/24,10.10.17.1/24\n")).as("more than one entry").isEmpty();
        assertThat(read("FLANNEL_SUBNET=10.10.16.1\n")).isEmpty();
        assertThat(read("FLANNEL_SUBNET=fc00::1/64\n")).isEmpty();
        assertThat(read("FLANNEL_IPV6_SUBNET=fc00::1/64\n")).isEmpty();
    }

    @Test
    void anUnreadableFileIsAnError() throws IOException {
        final Path notAFile = dir.resolve("subnet.env");
        Files.createDirectory(notAFile);
        assertThatThrownBy(() -> SubnetEnv.readPreviousSubnet(notAFile)).isInstanceOf(IOException.class);
    }

    private Optional<Ipv4Prefix> read(final String content) throws IOException {
        final Path file = Files.createTempFile(dir, "env", ".env");
        Files.writeString(file, content);
        return SubnetEnv.readPreviousSubnet(file);
    }

    private List<Path> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }
}
