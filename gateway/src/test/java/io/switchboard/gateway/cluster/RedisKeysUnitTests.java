package io.switchboard.gateway.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** How messages are told apart and slots are named in log lines. */
class RedisKeysUnitTests {

    @Test
    @DisplayName("two publishes at the same offset differ in their tag; the same message read twice does not")
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
        assertThat(RedisConnections.ranges(List.of(5, 0, 1, 2, 7, 8))).isEqualTo("0-2,5,7-8");
        assertThat(RedisConnections.ranges(List.of(3))).isEqualTo("3");
        assertThat(RedisConnections.ranges(List.of())).isEmpty();
    }
}
