package io.switchboard.gateway.channel;

import io.switchboard.protocol.Channels;
import io.switchboard.protocol.ServerFrame;

/**
 * One message with its place in a channel's history. {@code type} is the frame it becomes ({@code message} on
 * a channel, {@code direct} in an inbox); {@code data} is raw JSON; {@code from} is null for messages the
 * HTTP API published; {@code publishedNanos} is this JVM's {@link System#nanoTime()} when the publish arrived,
 * for the publish-to-write latency.
 */
public record Publication(String channel, long offset, String epoch, String type, String from, String data,
                          long publishedNanos) {
    public static final String MESSAGE = ServerFrame.Message.TYPE;
    public static final String DIRECT = ServerFrame.Direct.TYPE;

    /** The frame a subscriber receives. */
    public ServerFrame toFrame() {
        if (DIRECT.equals(type) || Channels.isInbox(channel)) {
            return new ServerFrame.Direct(from, data, offset, epoch);
        }
        return new ServerFrame.Message(channel, offset, epoch, from, data);
    }
}
