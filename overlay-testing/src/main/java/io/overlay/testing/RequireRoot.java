package io.overlay.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a {@link Privileged} test class up front when the JVM is not root or has no {@code /dev/net/tun}.
 */
public final class RequireRoot implements BeforeAllCallback {
    @Override
    public void beforeAll(final ExtensionContext context) throws Exception {
        final String uid = Files.readAllLines(Path.of("/proc/self/status")).stream()
            .filter(l -> l.startsWith("Uid:")).findFirst().orElse("Uid: ?");
        if (!uid.split("\\s+")[1].equals("0")) {
            throw new AssertionError("privileged test " + context.getDisplayName() + " needs root ("
                + uid.trim() + "); run as root, or exclude with -Dgroups.excluded=privileged");
        }
        if (!Files.exists(Path.of("/dev/net/tun"))) {
            throw new AssertionError("privileged test " + context.getDisplayName() + " needs /dev/net/tun");
        }
    }
}
