package io.switchboard.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Channel names, docs/protocol.md section 5: 1 to 128 characters of {@code A-Z a-z 0-9 _ - . : @}. */
class ChannelsUnitTests {

    @ParameterizedTest(name = "<{0}>")
    @ValueSource(
            strings = {
                "a",
                "Z",
                "0",
                "_",
                "-",
                ".",
                ":",
                "@",
                "public:lobby",
                "user:u_bob",
                "room:1",
                "AZaz09_-.:@",
                "a.b-c_d:e@f",
                "public:"
            })
    @DisplayName("section 5: names of allowed characters are valid and have no problem")
    void valid(String name) {
        assertThat(Channels.isValidName(name)).isTrue();
        assertThat(Channels.problem(name)).isNull();
    }

    @Test
    @DisplayName("section 5: every allowed character alone is valid, every other ASCII character is not")
    void everyAsciiCharacter() {
        String allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:@";
        for (char c = 0; c < 128; c++) {
            String name = "a" + c + "b";
            boolean expected = allowed.indexOf(c) >= 0;
            assertThat(Channels.isValidName(name)).as("char %d", (int) c).isEqualTo(expected);
            assertThat(Channels.problem(name) == null)
                    .as("problem for char %d", (int) c)
                    .isEqualTo(expected);
        }
    }

    @Test
    @DisplayName("section 5: 128 characters is valid, 129 is not")
    void lengthLimit() {
        assertThat(Limits.MAX_CHANNEL_LENGTH).isEqualTo(128);
        String ok = "c".repeat(128);
        assertThat(Channels.isValidName(ok)).isTrue();
        assertThat(Channels.problem(ok)).isNull();
        String tooLong = "c".repeat(129);
        assertThat(Channels.isValidName(tooLong)).isFalse();
        assertThat(Channels.problem(tooLong)).contains("129").contains("128");
        assertThat(Channels.isValidName("c".repeat(10_000))).isFalse();
    }

    @Test
    @DisplayName("section 5: the empty name is invalid and the problem says so")
    void empty() {
        assertThat(Channels.isValidName("")).isFalse();
        assertThat(Channels.problem("")).contains("empty");
    }

    @ParameterizedTest(name = "<{0}>")
    @ValueSource(
            strings = {
                " ",
                "public:a b",
                "public/lobby",
                "caf\u00e9",
                "\u00e9",
                "\ud83d\ude00",
                "a*",
                "a#b",
                "a\tb",
                "a\nb",
                "a\u0000b",
                "a+b",
                "a,b",
                "\u0430",
                "\uff41",
                "\u0660"
            })
    @DisplayName("section 5: names with a character outside the set are invalid and the problem names the rule")
    void invalidCharacters(String name) {
        assertThat(Channels.isValidName(name)).isFalse();
        assertThat(Channels.problem(name)).isNotNull().contains("A-Z a-z 0-9 _ - . : @");
    }

    @Test
    @DisplayName("section 5: user: is the inbox namespace")
    void inbox() {
        assertThat(Channels.inboxOf("u_bob")).isEqualTo("user:u_bob");
        assertThat(Channels.isInbox("user:u_bob")).isTrue();
        assertThat(Channels.isInbox("public:lobby")).isFalse();
        assertThat(Channels.isInbox("users:x")).isFalse();
        assertThat(Channels.PUBLIC_PREFIX).isEqualTo("public:");
        assertThat(Channels.isValidName(Channels.inboxOf("x".repeat(123)))).isTrue();
    }
}
