package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Linux interface name rules (net/core/dev.c dev_valid_name, dev_alloc_name). */
class InterfaceNameTest {
    @Test
    void acceptsNamesAndOneIndexTemplate() throws Exception {
        assertThat(InterfaceName.validate("flannel0")).hasSize(8);
        assertThat(InterfaceName.validate("flannel%d")).hasSize(9);
        assertThat(InterfaceName.validate("abcdefghijklmno")).hasSize(15);
        assertThat(InterfaceName.isTemplate("flannel%d")).isTrue();
        assertThat(InterfaceName.isTemplate("flannel0")).isFalse();
    }

    @Test
    void rejectsWhatTheKernelRejectsWithAMessageNamingTheProblem() {
        rejects("abcdefghijklmnop", "16 bytes long");
        rejects("flännel-long-xx", "16 bytes long"); // 15 characters, 16 bytes in UTF-8
        rejects("", "empty");
        rejects(null, "empty");
        rejects(".", "reserved");
        rejects("..", "reserved");
        rejects("a/b", "'/'");
        rejects("a:b", "':'");
        rejects("a b", "U+0020");
        rejects("a\tb", "U+0009");
        rejects("tun%s", "exactly one \"%d\"");
        rejects("tun%d%d", "exactly one \"%d\"");
        rejects("tun%", "exactly one \"%d\"");
    }

    private static void rejects(final String name, final String why) {
        assertThatThrownBy(() -> InterfaceName.validate(name)).isInstanceOfSatisfying(TunException.class, e -> {
            assertThat(e.reason()).isEqualTo(TunException.Reason.INVALID_NAME);
            assertThat(e.errno()).isZero();
            assertThat(e.getMessage()).contains("invalid TUN interface name", why);
        });
    }
}
