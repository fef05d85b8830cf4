package io.switchboard.gateway.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.channel.Publication;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** How messages are framed in Redis, told apart, and how slots are named in log lines. */
class RedisKeysUnitTests {

    /** A message as the publish script stores it: offset and epoch, then the publisher's body. */
    private static String stored(
            long offset, String epoch, String type, String from, String node, long nanos, String data) {
        return offset + "\n" + epoch + "\n" + RedisKeys.body(type, from, node, nanos, data);
    }

    /** Senders that would break a newline-framed message, and ordinary ones. */
    static Stream<String> senders() {
        return Stream.of(
                "u_alice",
                "g_Qm3vAbCdEfGh",
                "x\ngw-b",
                "x\ngw-a",
                "a\nb\nc\nd\ne\nf\ng",
                "\n",
                "\n\n\n",
                "5:abc",
                "3:a\nb",
                "12345678901:",
                "0:",
                ":",
                "9999999999",
                "\u00e9\u2028\r\t",
                "u".repeat(10_000),
                "x\ngw-a\n123\n{\"forged\":true}");
    }

    @ParameterizedTest(name = "from {0}")
    @MethodSource("senders")
    @DisplayName("whatever the sender holds, a message reads back field for field; the data stays whole and last")
    void framingRoundTripsHostileSenders(String from) {
        String data = "{\"text\":\"line 1\\nline 2\"}\n{\"second\":\"line\"}";
        String payload = stored(42, "E1", Publication.MESSAGE, from, "gw-a", 1234, data);

        Publication mine = RedisKeys.parse("room:1", payload, "gw-a");
        Publication theirs = RedisKeys.parse("room:1", payload, "gw-b");

        assertThat(mine).isEqualTo(new Publication("room:1", 42, "E1", Publication.MESSAGE, from, data, 1234));
        assertThat(theirs).isEqualTo(new Publication("room:1", 42, "E1", Publication.MESSAGE, from, data, 0));
    }

    @Test
    @DisplayName("a sender holding a newline and another node's id is not taken for that node's message")
    void senderCannotImpersonateANode() {
        String payload = stored(3, "E1", Publication.MESSAGE, "x\ngw-b", "gw-a", 99, "1");

        assertThat(RedisKeys.parse("room:1", payload, "gw-b").publishedNanos()).isZero();
        assertThat(RedisKeys.parse("room:1", payload, "gw-b").data()).isEqualTo("1");
        assertThat(RedisKeys.parse("room:1", payload, "gw-a").publishedNanos()).isEqualTo(99);
    }

    @Test
    @DisplayName("a message without sender (HTTP API, random-connect events) reads back with none")
    void noSender() {
        String payload = stored(1, "E1", Publication.MATCH_SIGNAL, null, "gw-a", 5, "m_1\n{\"sdp\":\"v=0\\r\\n\"}");

        Publication p = RedisKeys.parse("user:u_a", payload, "gw-a");

        assertThat(p.from()).isNull();
        assertThat(p.type()).isEqualTo(Publication.MATCH_SIGNAL);
        assertThat(p.data()).isEqualTo("m_1\n{\"sdp\":\"v=0\\r\\n\"}");
    }

    @ParameterizedTest(name = "from {0}")
    @MethodSource("senders")
    @DisplayName("the tag covers the sender and ignores the data, whatever the sender holds")
    void tagCoversTheSenderAndNotTheData(String from) {
        String small = stored(6, "E1", Publication.MESSAGE, from, "gw-a", 1000, "1");
        String large = stored(6, "E1", Publication.MESSAGE, from, "gw-a", 1000, "2\n".repeat(30_000));
        String otherSender = stored(6, "E1", Publication.MESSAGE, from + "x", "gw-a", 1000, "1");
        String otherNanos = stored(6, "E1", Publication.MESSAGE, from, "gw-a", 1001, "1");

        assertThat(RedisKeys.tag(small))
                .isEqualTo(RedisKeys.tag(large))
                .isNotEqualTo(RedisKeys.tag(otherSender))
                .isNotEqualTo(RedisKeys.tag(otherNanos));
    }

    @Test
    @DisplayName("messages written before the sender was length-prefixed still read (rolling upgrade)")
    void unprefixedSenderStillReads() {
        Publication p = RedisKeys.parse("room:1", "6\nE1\nmessage\ng_a\ngw-a\n1000\n{\"x\":1}", "gw-a");
        Publication none = RedisKeys.parse("room:1", "6\nE1\nmessage\n\ngw-a\n1000\n{\"x\":1}", "gw-b");

        assertThat(p).isEqualTo(new Publication("room:1", 6, "E1", "message", "g_a", "{\"x\":1}", 1000));
        assertThat(none).isEqualTo(new Publication("room:1", 6, "E1", "message", null, "{\"x\":1}", 0));
    }

    @Test
    @DisplayName("a payload that is not a message is refused with a readable one-line reason")
    void garbageIsRefused() {
        for (String garbage : Arrays.asList(
                "", "7", "7\nE1", "7\nE1\nmessage", "7\nE1\nmessage\n3:ab", "7\nE1\nmessage\n1:a\ngw-a")) {
            assertThatThrownBy(() -> RedisKeys.parse("room:1", garbage, "gw-a"))
                    .as(garbage)
                    .isInstanceOf(IllegalArgumentException.class)
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        }
    }

    @Test
    @DisplayName("a type or node id with a newline is refused before it reaches Redis")
    void gatewayFieldsWithANewlineAreRefused() {
        assertThatThrownBy(() -> RedisKeys.body("message\nx", "u_a", "gw-a", 1, "1"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> RedisKeys.body(Publication.MESSAGE, "u_a", "gw\na", 1, "1"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    @DisplayName("two publishes at the same offset differ in their tag; the same message read twice does not (messages"
            + " without a length prefix, as earlier instances wrote them)")
    void tagTellsPublishesApart() {
        String first = "6\nE1\nmessage\ng_a\ngw-a\n1000\n{\"x\":1}";
        String again = "6\nE1\nmessage\ng_a\ngw-a\n1000\n{\"x\":1}";
        String other = "6\nE1\nmessage\ng_b\ngw-c\n2000\n{\"x\":1}";
        assertThat(RedisKeys.tag(first)).isEqualTo(RedisKeys.tag(again)).isNotEqualTo(RedisKeys.tag(other));
    }

    @Test
    @DisplayName("the tag does not read the data, so a large message costs nothing more")
    void tagIgnoresTheData() {
        String small = "6\nE1\nmessage\ng_a\ngw-a\n1000\n1";
        String large = "6\nE1\nmessage\ng_a\ngw-a\n1000\n" + "2".repeat(60_000);
        assertThat(RedisKeys.tag(small)).isEqualTo(RedisKeys.tag(large));
    }

    @Test
    @DisplayName("slots are named as ranges, as redis-cli shows them")
    void slotRanges() {
        assertThat(ClusterTopology.ranges(List.of(5, 0, 1, 2, 7, 8))).isEqualTo("0-2,5,7-8");
        assertThat(ClusterTopology.ranges(List.of(3))).isEqualTo("3");
        assertThat(ClusterTopology.ranges(List.of())).isEmpty();
    }
}
