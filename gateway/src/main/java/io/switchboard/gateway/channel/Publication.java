package io.switchboard.gateway.channel;

import com.fasterxml.jackson.databind.JsonNode;
import io.switchboard.protocol.FrameCodec;
import io.switchboard.protocol.ServerFrame;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * One message with its place in a channel's or inbox's history. {@code type} is the frame it becomes:
 * {@code message} on a channel; {@code direct} or a random-connect event in an inbox. {@code data} is raw JSON
 * for messages; for random-connect events it holds the event's fields (for {@code match.signal}: the match id,
 * a newline, then the relayed raw JSON). {@code from} is null for messages the HTTP API published;
 * {@code publishedNanos} is this JVM's {@link System#nanoTime()} when the publish arrived, for the
 * publish-to-write latency.
 */
public record Publication(
        String channel, long offset, String epoch, String type, String from, String data, long publishedNanos) {
    public static final String MESSAGE = ServerFrame.Message.TYPE;
    public static final String DIRECT = ServerFrame.Direct.TYPE;
    public static final String MATCH_FOUND = ServerFrame.MatchFound.TYPE;
    public static final String MATCH_SIGNAL = ServerFrame.MatchSignal.TYPE;
    public static final String MATCH_ENDED = ServerFrame.MatchEnded.TYPE;
    public static final String MATCH_PARTNER = ServerFrame.MatchPartner.TYPE;

    /** The frame a subscriber receives. */
    public ServerFrame toFrame() {
        switch (type) {
            case MESSAGE:
                return new ServerFrame.Message(channel, offset, epoch, from, data);
            case MATCH_SIGNAL: {
                int nl = data.indexOf('\n');
                return new ServerFrame.MatchSignal(data.substring(0, nl), from, data.substring(nl + 1), offset, epoch);
            }
            case MATCH_FOUND: {
                JsonNode n = tree();
                List<String> interests = new ArrayList<>();
                n.path("interests").forEach(i -> interests.add(i.asText()));
                return new ServerFrame.MatchFound(
                        n.path("match").asText(),
                        n.path("partner").asText(),
                        n.path("initiator").asBoolean(),
                        interests,
                        offset,
                        epoch);
            }
            case MATCH_ENDED: {
                JsonNode n = tree();
                return new ServerFrame.MatchEnded(
                        n.path("match").asText(), n.path("reason").asText(), offset, epoch);
            }
            case MATCH_PARTNER: {
                JsonNode n = tree();
                return new ServerFrame.MatchPartner(
                        n.path("match").asText(), n.path("state").asText());
            }
            default:
                return new ServerFrame.Direct(from, data, offset, epoch);
        }
    }

    private JsonNode tree() {
        try {
            return FrameCodec.mapper().readTree(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
