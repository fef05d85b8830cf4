package io.switchboard.protocol;

import java.util.List;
import java.util.Objects;

/**
 * A frame a client sends. {@code id} is null when the frame carries none; JSON values ({@code data}) are kept
 * as their raw JSON text so that they are relayed byte for byte.
 */
public sealed interface ClientFrame {

    /** The frame's {@code type} on the wire. */
    String type();

    /** The request id, or null. */
    Long id();

    record Hello(int v, String token, String resume, StreamPosition inboxSince, String client) implements ClientFrame {
        public static final String TYPE = "hello";

        public String type() {
            return TYPE;
        }

        public Long id() {
            return null;
        }
    }

    record Pong() implements ClientFrame {
        public static final String TYPE = "pong";

        public String type() {
            return TYPE;
        }

        public Long id() {
            return null;
        }
    }

    /**
     * {@code presence}: the user is present in the channel while subscribed; {@code joinLeave}: this subscriber
     * receives the channel's {@code join} and {@code leave} events (section 10).
     */
    record Subscribe(Long id, String channel, StreamPosition since, boolean presence, boolean joinLeave)
            implements ClientFrame {
        public static final String TYPE = "subscribe";

        public Subscribe {
            Objects.requireNonNull(channel, "channel");
        }

        /** A subscribe without presence. */
        public Subscribe(Long id, String channel, StreamPosition since) {
            this(id, channel, since, false, false);
        }

        public String type() {
            return TYPE;
        }
    }

    record Unsubscribe(Long id, String channel) implements ClientFrame {
        public static final String TYPE = "unsubscribe";

        public Unsubscribe {
            Objects.requireNonNull(channel, "channel");
        }

        public String type() {
            return TYPE;
        }
    }

    record Publish(Long id, String channel, String data) implements ClientFrame {
        public static final String TYPE = "publish";

        public Publish {
            Objects.requireNonNull(channel, "channel");
            Objects.requireNonNull(data, "data");
        }

        public String type() {
            return TYPE;
        }
    }

    record Send(Long id, String to, String data) implements ClientFrame {
        public static final String TYPE = "send";

        public Send {
            Objects.requireNonNull(to, "to");
            Objects.requireNonNull(data, "data");
        }

        public String type() {
            return TYPE;
        }
    }

    record MatchJoin(Long id, List<String> interests) implements ClientFrame {
        public static final String TYPE = "match.join";

        public MatchJoin {
            interests = interests == null ? List.of() : List.copyOf(interests);
        }

        public String type() {
            return TYPE;
        }
    }

    record MatchSignal(Long id, String match, String data) implements ClientFrame {
        public static final String TYPE = "match.signal";

        public MatchSignal {
            Objects.requireNonNull(match, "match");
            Objects.requireNonNull(data, "data");
        }

        public String type() {
            return TYPE;
        }
    }

    record MatchNext(Long id) implements ClientFrame {
        public static final String TYPE = "match.next";

        public String type() {
            return TYPE;
        }
    }

    record MatchLeave(Long id) implements ClientFrame {
        public static final String TYPE = "match.leave";

        public String type() {
            return TYPE;
        }
    }

    record Block(Long id, String user) implements ClientFrame {
        public static final String TYPE = "block";

        public Block {
            Objects.requireNonNull(user, "user");
        }

        public String type() {
            return TYPE;
        }
    }

    /** Who is present in a channel: at most {@link Limits#MAX_PRESENCE_USERS} users. */
    record Presence(Long id, String channel) implements ClientFrame {
        public static final String TYPE = "presence";

        public Presence {
            Objects.requireNonNull(channel, "channel");
        }

        public String type() {
            return TYPE;
        }
    }

    /** How many users are present in a channel. */
    record PresenceCount(Long id, String channel) implements ClientFrame {
        public static final String TYPE = "presence.count";

        public PresenceCount {
            Objects.requireNonNull(channel, "channel");
        }

        public String type() {
            return TYPE;
        }
    }

    /** Users online cluster-wide and users waiting in the random-connect queue. */
    record MatchStats(Long id) implements ClientFrame {
        public static final String TYPE = "match.stats";

        public String type() {
            return TYPE;
        }
    }

    /** A call to the application's backend (section 11): {@code method} and its {@code data} (raw JSON). */
    record Rpc(Long id, String method, String data) implements ClientFrame {
        public static final String TYPE = "rpc";

        public Rpc {
            Objects.requireNonNull(method, "method");
            Objects.requireNonNull(data, "data");
        }

        public String type() {
            return TYPE;
        }
    }
}
