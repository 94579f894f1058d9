package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4Prefix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * flannel's {@code subnet.env}, the hand-off to Docker and CNI ({@code docs/flannel-compatibility.md#subnet-file}):
 * <pre>
 * FLANNEL_NETWORK=10.10.0.0/16
 * FLANNEL_SUBNET=10.10.16.1/24
 * FLANNEL_MTU=1472
 * FLANNEL_IPMASQ=false
 * </pre>
 * in that order, {@code KEY=value} lines ending in {@code \n}, no quotes or comments (flannel's {@code WriteSubnetFile};
 * the IPv6 lines flannel writes between SUBNET and MTU only with EnableIPv6 never occur with udp); written atomically
 * like flannel's {@code renameio}: a temporary file in the same directory, flushed to disk, mode 0644 whatever the
 * umask, renamed over the target; the directory is created (0755) when missing.
 *
 * @param network the overlay Network ({@code FLANNEL_NETWORK})
 * @param subnet the lease subnet; written as its first host address with the subnet prefix ({@code FLANNEL_SUBNET})
 * @param mtu the overlay MTU in bytes ({@code FLANNEL_MTU})
 * @param ipMasq whether IP masquerading is on ({@code FLANNEL_IPMASQ})
 */
public record SubnetEnv(Ipv4Prefix network, Ipv4Prefix subnet, int mtu, boolean ipMasq) {
    /** flanneld's default {@code --subnet-file}, as text (for option defaults). */
    public static final String DEFAULT_FILE = "/run/flannel/subnet.env";

    /** flanneld's default path, {@code --subnet-file}: {@value #DEFAULT_FILE}. */
    public static final Path DEFAULT_PATH = Path.of(DEFAULT_FILE);

    private static final Logger LOG = LoggerFactory.getLogger(SubnetEnv.class);

    /**
     * Checks the values.
     *
     * @throws NullPointerException if network or subnet is null
     * @throws IllegalArgumentException if the subnet has no first host address (a /31 or /32) or mtu is not positive
     */
    public SubnetEnv {
        Objects.requireNonNull(network, "network");
        Objects.requireNonNull(subnet, "subnet");
        if (subnet.length() > 30) {
            throw new IllegalArgumentException("subnet " + subnet + " is too small for subnet.env (at most /30)");
        }
        if (mtu <= 0) {
            throw new IllegalArgumentException("FLANNEL_MTU must be positive, got " + mtu);
        }
    }

    /**
     * Returns the file's text.
     *
     * @return the four lines in flannel's order
     */
    public String render() {
        return "FLANNEL_NETWORK=" + network + "\n"
            + "FLANNEL_SUBNET=" + FlannelRules.subnetWithBridgeAddress(subnet) + "\n"
            + "FLANNEL_MTU=" + mtu + "\n"
            + "FLANNEL_IPMASQ=" + ipMasq + "\n";
    }

    /**
     * Writes the file atomically: temporary file in the same directory, written and forced to disk, mode 0644, then
     * renamed over {@code path} (an atomic rename; readers see the old or the new file, never a part).
     *
     * @param path the target, e.g. {@link #DEFAULT_PATH}
     * @throws IOException if the directory cannot be created or the file written or renamed; the target is then
     *     unchanged
     */
    public void write(final Path path) throws IOException {
        writeAtomically(path, render());
    }

    /**
     * Writes a text file atomically, as {@link #write} writes {@code subnet.env}: temporary file in the same
     * directory, forced to disk, mode 0644, renamed over the target; the directory is created (0755) when missing.
     * Also used for the runtime configurations made from {@code subnet.env}.
     *
     * @param path the target
     * @param text the content, written as UTF-8
     * @throws IOException if a step fails, its message naming the target and the cause (e.g. {@code cannot write
     *     /run/flannel/subnet.env: No space left on device}); the target is then unchanged and the temporary file
     *     removed
     */
    public static void writeAtomically(final Path path, final String text) throws IOException {
        final Path abs = path.toAbsolutePath();
        try {
            writeAtomicallyAbsolute(abs, text);
        } catch (IOException e) {
            // the JDK names the file only for some errors (not for a full disk), and then the temporary one
            throw new IOException("cannot write " + abs + ": " + cause(e), e);
        }
    }

    /** The cause of a failed write in words: the kernel's reason, and the file the JDK names (maybe the temporary). */
    private static String cause(final IOException e) {
        if (e instanceof java.nio.file.FileSystemException f) {
            final String reason = f instanceof java.nio.file.AccessDeniedException ? "Permission denied"
                : f instanceof NoSuchFileException ? "No such file or directory"
                : f.getReason() != null ? f.getReason() : f.getClass().getSimpleName();
            return f.getFile() == null ? reason : reason + " (" + f.getFile() + ")";
        }
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }

    private static void writeAtomicallyAbsolute(final Path abs, final String text) throws IOException {
        final Path dir = abs.getParent();
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxr-xr-x")));
        }
        final Path tmp = Files.createTempFile(dir, "." + abs.getFileName(), ".tmp");
        try {
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            try (FileChannel ch = FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Reads the previous subnet from an existing file the way flanneld does at start-up: {@code FLANNEL_SUBNET} parsed
     * as a CIDR with host bits cleared ({@code 10.10.16.1/24} means {@code 10.10.16.0/24}). A missing file or key, a
     * comma-separated list of more than one entry, or a malformed value mean "no previous subnet".
     *
     * @param path the file
     * @return the previous subnet, or empty
     * @throws IOException if the file exists but cannot be read
     */
    public static Optional<Ipv4Prefix> readPreviousSubnet(final Path path) throws IOException {
        final List<String> lines;
        try {
            lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        final Map<String, String> vars = new LinkedHashMap<>();
        for (String raw : lines) {
            final String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            final String body = line.startsWith("export ") ? line.substring(7).strip() : line;
            final int eq = body.indexOf('=');
            if (eq > 0) {
                String value = body.substring(eq + 1).strip();
                if (value.length() >= 2 && (value.startsWith("\"") && value.endsWith("\"")
                    || value.startsWith("'") && value.endsWith("'"))) {
                    value = value.substring(1, value.length() - 1);
                }
                vars.put(body.substring(0, eq).strip(), value);
            }
        }
        final String subnet = vars.get("FLANNEL_SUBNET");
        if (subnet == null || subnet.isEmpty()) {
            LOG.warn("{} has no FLANNEL_SUBNET: no previous subnet to reuse", path);
            return Optional.empty();
        }
        if (subnet.contains(",")) {
            LOG.warn("{} lists several subnets in FLANNEL_SUBNET={}: no previous subnet to reuse", path, subnet);
            return Optional.empty();
        }
        try {
            return Optional.of(Ipv4Prefix.parseMasked(subnet));
        } catch (IllegalArgumentException e) {
            LOG.warn("{} has an invalid FLANNEL_SUBNET ({}): no previous subnet to reuse", path, e.getMessage());
            return Optional.empty();
        }
    }
}
