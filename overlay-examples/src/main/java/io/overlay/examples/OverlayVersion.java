package io.overlay.examples;

import picocli.CommandLine.IVersionProvider;

/**
 * The {@code --version} text: {@code overlay <version>}, the version taken from the jar manifest's
 * {@code Implementation-Version} ({@code unknown} when run from classes, e.g. in an IDE).
 */
public final class OverlayVersion implements IVersionProvider {
    /**
     * Returns this build's version.
     *
     * @return e.g. {@code 0.1.0-SNAPSHOT}, or {@code unknown}
     */
    public static String version() {
        final String v = OverlayVersion.class.getPackage().getImplementationVersion();
        return v == null ? "unknown" : v;
    }

    @Override
    public String[] getVersion() {
        return new String[] {"overlay " + version()};
    }
}
