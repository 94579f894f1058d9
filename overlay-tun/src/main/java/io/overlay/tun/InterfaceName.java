package io.overlay.tun;

import java.nio.charset.StandardCharsets;

/**
 * Checks Linux interface names and name templates the way the kernel does ({@code dev_valid_name} and
 * {@code dev_alloc_name} in {@code net/core/dev.c}), so a bad name fails with a clear message before any system call.
 */
final class InterfaceName {
    /** {@code IFNAMSIZ}: a name is at most 15 bytes plus the terminating NUL. */
    static final int IFNAMSIZ = 16;

    private InterfaceName() {
    }

    /**
     * Validates an interface name or a template with one {@code %d}.
     *
     * @param name the name, e.g. {@code flannel0} or {@code flannel%d}
     * @return the name's bytes (ASCII/UTF-8, without NUL), 1..15 bytes
     * @throws TunException with {@link TunException.Reason#INVALID_NAME} if the name is empty, longer than 15 bytes,
     *     {@code .} or {@code ..}, contains {@code /}, {@code :}, whitespace or a control character, or has a
     *     {@code %} other than a single {@code %d}
     */
    static byte[] validate(final String name) throws TunException {
        if (name == null || name.isEmpty()) {
            throw invalid(name, "the name is empty");
        }
        final byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (bytes.length >= IFNAMSIZ) {
            throw invalid(name, "it is " + bytes.length + " bytes long; Linux allows at most " + (IFNAMSIZ - 1)
                + " bytes (IFNAMSIZ 16 with the NUL)");
        }
        if (name.equals(".") || name.equals("..")) {
            throw invalid(name, "\".\" and \"..\" are reserved");
        }
        for (int i = 0; i < name.length(); i++) {
            final char c = name.charAt(i);
            if (c == '/' || c == ':' || Character.isWhitespace(c) || Character.isISOControl(c)) {
                throw invalid(name, "it contains " + describe(c) + "; '/', ':', whitespace and control characters"
                    + " are not allowed");
            }
        }
        final int percent = name.indexOf('%');
        if (percent >= 0 && (percent + 1 >= name.length() || name.charAt(percent + 1) != 'd'
            || name.indexOf('%', percent + 2) >= 0)) {
            throw invalid(name, "a template may hold exactly one \"%d\" (e.g. flannel%d) and no other '%'");
        }
        return bytes;
    }

    /**
     * Returns whether the name is a template whose {@code %d} the kernel replaces by the first free index.
     *
     * @param name a validated name
     * @return {@code true} if it contains {@code %d}
     */
    static boolean isTemplate(final String name) {
        return name.contains("%d");
    }

    private static String describe(final char c) {
        return Character.isISOControl(c) || Character.isWhitespace(c)
            ? String.format("the character U+%04X", (int) c) : "'" + c + "'";
    }

    private static TunException invalid(final String name, final String why) {
        return new TunException(TunException.Reason.INVALID_NAME, 0,
            "invalid TUN interface name \"" + name + "\": " + why);
    }
}
