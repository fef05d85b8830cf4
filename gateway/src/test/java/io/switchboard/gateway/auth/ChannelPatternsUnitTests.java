package io.switchboard.gateway.auth;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Channel permissions, docs/protocol.md section 5: {@code public:} is open to everyone, {@code user:} is reserved, any
 * other channel needs a matching claim pattern (an exact name, or a prefix ending in {@code *}).
 */
class ChannelPatternsUnitTests {

    private static Identity withPatterns(List<String> subscribe, List<String> publish) {
        return new Identity("u_alice", false, new ChannelPatterns(subscribe), new ChannelPatterns(publish));
    }

    @Test
    @DisplayName("docs/protocol.md section 2: an exact pattern matches that name only")
    void exactPatternMatchesOnlyThatName() {
        ChannelPatterns p = new ChannelPatterns(List.of("room:1"));

        assertThat(p.matches("room:1")).isTrue();
        assertThat(p.matches("room:10")).isFalse();
        assertThat(p.matches("room:")).isFalse();
        assertThat(p.matches("room")).isFalse();
        assertThat(p.matches("Room:1")).isFalse();
        assertThat(p.matches("xroom:1")).isFalse();
    }

    @Test
    @DisplayName("docs/protocol.md section 2: a pattern ending in * matches every name with that prefix")
    void prefixPatternMatchesNamesWithThePrefix() {
        ChannelPatterns p = new ChannelPatterns(List.of("team:*"));

        assertThat(p.matches("team:red")).isTrue();
        assertThat(p.matches("team:red:chat")).isTrue();
        assertThat(p.matches("team:")).isTrue();
        assertThat(p.matches("team")).isFalse();
        assertThat(p.matches("teams:red")).isFalse();
        assertThat(p.matches("xteam:red")).isFalse();
    }

    @Test
    @DisplayName("a * is a wildcard only at the end; elsewhere it is part of an exact name")
    void starOnlyCountsAtTheEnd() {
        ChannelPatterns p = new ChannelPatterns(List.of("a*b"));

        assertThat(p.matches("a*b")).isTrue();
        assertThat(p.matches("axb")).isFalse();
        assertThat(p.matches("ab")).isFalse();
    }

    @Test
    @DisplayName("a lone * matches every name")
    void loneStarMatchesEverything() {
        ChannelPatterns p = new ChannelPatterns(List.of("*"));

        assertThat(p.matches("room:1")).isTrue();
        assertThat(p.matches("a")).isTrue();
    }

    @Test
    @DisplayName("any one of several patterns is enough")
    void anyPatternMatches() {
        ChannelPatterns p = new ChannelPatterns(List.of("room:1", "team:*"));

        assertThat(p.matches("room:1")).isTrue();
        assertThat(p.matches("team:blue")).isTrue();
        assertThat(p.matches("room:2")).isFalse();
    }

    @Test
    @DisplayName("NONE matches nothing")
    void noneMatchesNothing() {
        assertThat(ChannelPatterns.NONE.patterns()).isEmpty();
        assertThat(ChannelPatterns.NONE.matches("room:1")).isFalse();
        assertThat(ChannelPatterns.NONE.matches("public:lobby")).isFalse();
    }

    @Test
    @DisplayName("patterns are copied: changing the caller's list later grants nothing")
    void patternsAreCopied() {
        List<String> source = new ArrayList<>(List.of("room:1"));
        ChannelPatterns p = new ChannelPatterns(source);

        source.add("*");

        assertThat(p.patterns()).containsExactly("room:1").isUnmodifiable();
        assertThat(p.matches("room:2")).isFalse();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"public:lobby", "public:a", "public:", "public:room:1"})
    @DisplayName("docs/protocol.md section 5: public: is open to every connection, guests included, for both actions")
    void publicIsOpenToEveryone(String channel) {
        Identity guest = Identity.guest("g_Qm3v");
        Identity member = withPatterns(List.of("room:1"), List.of());

        assertThat(guest.maySubscribe(channel)).isTrue();
        assertThat(guest.mayPublish(channel)).isTrue();
        assertThat(member.maySubscribe(channel)).isTrue();
        assertThat(member.mayPublish(channel)).isTrue();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"public", "publicx:lobby", "Public:lobby", "room:1", "a"})
    @DisplayName("docs/protocol.md section 5: other channels are closed to a guest")
    void guestMayNotUseOtherChannels(String channel) {
        Identity guest = Identity.guest("g_Qm3v");

        assertThat(guest.guest()).isTrue();
        assertThat(guest.maySubscribe(channel)).isFalse();
        assertThat(guest.mayPublish(channel)).isFalse();
    }

    @Test
    @DisplayName(
            "docs/protocol.md section 5: other channels need the matching claim; subscribe and publish are separate")
    void otherChannelsNeedTheMatchingClaim() {
        Identity who = withPatterns(List.of("room:*"), List.of("room:1"));

        assertThat(who.maySubscribe("room:1")).isTrue();
        assertThat(who.maySubscribe("room:2")).isTrue();
        assertThat(who.mayPublish("room:1")).isTrue();
        assertThat(who.mayPublish("room:2")).isFalse();
        assertThat(who.maySubscribe("team:red")).isFalse();
        assertThat(who.mayPublish("team:red")).isFalse();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"*", "user:*", "user:u_alice", "u*", "user:u_bob"})
    @DisplayName("docs/protocol.md section 5: user: channels are reserved, whatever the claims say")
    void inboxIsNeverSubscribableOrPublishable(String pattern) {
        Identity who = withPatterns(List.of(pattern), List.of(pattern));

        for (String inbox : List.of("user:u_alice", "user:u_bob", "user:")) {
            assertThat(who.maySubscribe(inbox))
                    .as("subscribe %s with %s", inbox, pattern)
                    .isFalse();
            assertThat(who.mayPublish(inbox))
                    .as("publish %s with %s", inbox, pattern)
                    .isFalse();
        }
        assertThat(Identity.guest("g_Qm3v").maySubscribe("user:g_Qm3v")).isFalse();
    }

    @Test
    @DisplayName("a * claim grants every channel except inboxes")
    void starGrantsEverythingButInboxes() {
        Identity who = withPatterns(List.of("*"), List.of("*"));

        assertThat(who.maySubscribe("room:1")).isTrue();
        assertThat(who.mayPublish("anything.else")).isTrue();
        assertThat(who.maySubscribe("user:u_bob")).isFalse();
    }
}
