package io.switchboard.protocol;

import java.util.List;
import java.util.Objects;

/**
 * A frame the server sends. Optional fields are null when absent and are then left out on the wire; JSON
 * values ({@code data}) are raw JSON text.
 */
public sealed interface ServerFrame {

    /** The frame's {@code type} on the wire. */
    String type();

    record Welcome(
            String session,
            String user,
            boolean guest,
            String resume,
            boolean resumed,
            boolean recovered,
            StreamPosition inbox,
            long pingInterval,
            long pingTimeout,
            Limits limits,
            String node)
            implements ServerFrame {
        public static final String TYPE = "welcome";

        public String type() {
            return TYPE;
        }
    }

    record Ping() implements ServerFrame {
        public static final String TYPE = "ping";

        public String type() {
            return TYPE;
        }
    }

    /**
     * A successful reply. Only the result fields that apply are set: {@code channel}, {@code offset},
     * {@code epoch} and {@code recovered} for subscribe and publish, {@code delivered} for send,
     * {@code queued} for random connect.
     */
    record Ack(long id, String channel, Long offset, String epoch, Boolean recovered, Boolean delivered, Boolean queued)
            implements ServerFrame {
        public static final String TYPE = "ack";

        public static Ack of(long id) {
            return new Ack(id, null, null, null, null, null, null);
        }

        public String type() {
            return TYPE;
        }
    }

    record Error(Long id, String code, String message, Long retryAfter) implements ServerFrame {
        public static final String TYPE = "error";

        public Error {
            Objects.requireNonNull(code, "code");
        }

        public static Error of(Long id, String code, String message) {
            return new Error(id, code, message, null);
        }

        public String type() {
            return TYPE;
        }
    }

    /** A channel message. {@code from} is null for messages published through the HTTP API. */
    record Message(String channel, long offset, String epoch, String from, String data) implements ServerFrame {
        public static final String TYPE = "message";

        public String type() {
            return TYPE;
        }
    }

    /** A direct message from the recipient's inbox. */
    record Direct(String from, String data, long offset, String epoch) implements ServerFrame {
        public static final String TYPE = "direct";

        public String type() {
            return TYPE;
        }
    }

    record MatchFound(
            String match, String partner, boolean initiator, List<String> interests, long offset, String epoch)
            implements ServerFrame {
        public static final String TYPE = "match.found";

        public MatchFound {
            interests = List.copyOf(interests);
        }

        public String type() {
            return TYPE;
        }
    }

    record MatchSignal(String match, String from, String data, long offset, String epoch) implements ServerFrame {
        public static final String TYPE = "match.signal";

        public String type() {
            return TYPE;
        }
    }

    record MatchEnded(String match, String reason, long offset, String epoch) implements ServerFrame {
        public static final String TYPE = "match.ended";

        public String type() {
            return TYPE;
        }
    }

    /** The partner's connection state: {@code reconnecting} or {@code back}. */
    record MatchPartner(String match, String state) implements ServerFrame {
        public static final String TYPE = "match.partner";

        public String type() {
            return TYPE;
        }
    }

    /** A user present in a channel and its public {@code info} (raw JSON, an object). */
    record PresentUser(String user, String info) {
        public PresentUser {
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(info, "info");
        }
    }

    /**
     * The reply to {@code presence} ({@code users} and {@code truncated} set) and to {@code presence.count}
     * (both null): the users present in {@code channel}.
     */
    record PresenceAck(long id, String channel, long count, List<PresentUser> users, Boolean truncated)
            implements ServerFrame {
        public static final String TYPE = Ack.TYPE;

        public PresenceAck {
            Objects.requireNonNull(channel, "channel");
            users = users == null ? null : List.copyOf(users);
        }

        public String type() {
            return TYPE;
        }
    }

    /** The reply to {@code match.stats}. */
    record StatsAck(long id, long online, long waiting) implements ServerFrame {
        public static final String TYPE = Ack.TYPE;

        public String type() {
            return TYPE;
        }
    }

    /** A user became present in a channel ({@code info} raw JSON). */
    record Join(String channel, String user, String info) implements ServerFrame {
        public static final String TYPE = "join";

        public Join {
            Objects.requireNonNull(channel, "channel");
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(info, "info");
        }

        public String type() {
            return TYPE;
        }
    }

    /** A user is no longer present in a channel. */
    record Leave(String channel, String user) implements ServerFrame {
        public static final String TYPE = "leave";

        public Leave {
            Objects.requireNonNull(channel, "channel");
            Objects.requireNonNull(user, "user");
        }

        public String type() {
            return TYPE;
        }
    }

    /** The reply to {@code rpc}: the backend's {@code result} (raw JSON). */
    record RpcAck(long id, String result) implements ServerFrame {
        public static final String TYPE = Ack.TYPE;

        public RpcAck {
            Objects.requireNonNull(result, "result");
        }

        public String type() {
            return TYPE;
        }
    }

    /** A channel the server subscribed the connection to before its {@code welcome} (section 11, connect hook). */
    record Subscribed(String channel, long offset, String epoch) implements ServerFrame {
        public static final String TYPE = "subscribed";

        public Subscribed {
            Objects.requireNonNull(channel, "channel");
        }

        public String type() {
            return TYPE;
        }
    }
}
