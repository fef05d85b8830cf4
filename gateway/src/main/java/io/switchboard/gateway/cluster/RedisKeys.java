package io.switchboard.gateway.cluster;

import io.switchboard.gateway.channel.Publication;

/**
 * How channels live in Redis. Every key of one channel shares the hash tag {@code {channel}}, so a channel's
 * offset counter, epoch, history and (sharded) pub/sub channel sit in one slot of a Redis Cluster. A stored or
 * published message is {@code offset \n epoch \n type \n length:from \n node \n nanos \n data}: the sender is
 * length-prefixed, so that whatever it holds cannot shift the fields after it, and the data is last;
 * {@code node} and {@code nanos} let the publishing instance measure publish-to-write latency.
 */
final class RedisKeys {
    static final String PREFIX = "sb:";

    private RedisKeys() {}

    /** The offset counter, the epoch and the history list of {@code channel}. */
    static String[] channelKeys(String channel) {
        String tag = PREFIX + "{" + channel + "}";
        return new String[] {tag + ":s", tag + ":e", tag + ":h"};
    }

    /** The Redis pub/sub channel of {@code channel}. */
    static String pubsubChannel(String channel) {
        return PREFIX + "{" + channel + "}";
    }

    /** The gateway channel of a Redis pub/sub channel, or null when it is not one. */
    static String channelOf(String pubsubChannel) {
        if (!pubsubChannel.startsWith(PREFIX + "{") || !pubsubChannel.endsWith("}")) {
            return null;
        }
        return pubsubChannel.substring(PREFIX.length() + 1, pubsubChannel.length() - 1);
    }

    /**
     * The part of a message the publisher writes; the script puts offset and epoch before it. {@code from} is
     * length-prefixed ({@code <length>:<from>}, length 0 for none), so that no sender id can add a line; the data
     * is last and taken whole. {@code type} and {@code node} come from the gateway, never from a client, and are
     * refused if they hold a newline.
     */
    static String body(String type, String from, String node, long nanos, String data) {
        if (type.indexOf('\n') >= 0 || node.indexOf('\n') >= 0) {
            throw new IllegalArgumentException("a message type or node id holds a newline");
        }
        String sender = from == null ? "" : from;
        return type + '\n' + sender.length() + ':' + sender + '\n' + node + '\n' + nanos + '\n' + data;
    }

    /**
     * What tells two messages with the same offset apart: a hash of the publisher's part before the data (type,
     * sender, publishing instance, its clock), which differs between any two publishes.
     */
    static int tag(String payload) {
        Fields f = fields(payload);
        int end = f == null ? payload.length() : f.dataStart - 1;
        int h = 0;
        for (int i = 0; i < end; i++) {
            h = 31 * h + payload.charAt(i);
        }
        return h;
    }

    /**
     * Reads a stored or published message of {@code channel}; {@code publishedNanos} is kept only when this
     * instance ({@code node}) published it, since other JVMs' clocks do not compare.
     */
    static Publication parse(String channel, String payload, String node) {
        Fields f = fields(payload);
        if (f == null) {
            throw new IllegalArgumentException("not a Switchboard message: "
                    + payload.substring(0, Math.min(40, payload.length())).replace('\n', '|'));
        }
        long offset = Long.parseLong(payload, 0, f.epochStart - 1, 10);
        String epoch = payload.substring(f.epochStart, f.typeStart - 1);
        String type = payload.substring(f.typeStart, f.typeEnd);
        String from = f.fromStart == f.fromEnd ? null : payload.substring(f.fromStart, f.fromEnd);
        boolean mine = payload.regionMatches(f.nodeStart, node, 0, node.length())
                && f.nodeStart + node.length() == f.nanosStart - 1;
        long nanos = mine ? Long.parseLong(payload, f.nanosStart, f.dataStart - 1, 10) : 0;
        return new Publication(channel, offset, epoch, type, from, payload.substring(f.dataStart), nanos);
    }

    /** Where each field of a message starts (and the sender ends); every field but the data ends with a newline. */
    private record Fields(
            int epochStart,
            int typeStart,
            int typeEnd,
            int fromStart,
            int fromEnd,
            int nodeStart,
            int nanosStart,
            int dataStart) {}

    /** Longest sender length prefix read: more digits than any String length has. */
    private static final int MAX_LENGTH_DIGITS = 10;

    /**
     * Finds the fields of {@code offset \n epoch \n type \n length:from \n node \n nanos \n data}; null when the
     * payload is not one. A sender without a length prefix is read up to the next newline, as instances before
     * the prefix wrote it, so that a rolling upgrade still reads their messages and histories.
     */
    private static Fields fields(String payload) {
        int a = payload.indexOf('\n');
        int b = a < 0 ? -1 : payload.indexOf('\n', a + 1);
        int c = b < 0 ? -1 : payload.indexOf('\n', b + 1);
        if (c < 0) {
            return null;
        }
        int fromStart = -1;
        int fromEnd = -1;
        int i = c + 1;
        long length = 0;
        while (i < payload.length()
                && i - c - 1 < MAX_LENGTH_DIGITS
                && payload.charAt(i) >= '0'
                && payload.charAt(i) <= '9') {
            length = length * 10 + (payload.charAt(i) - '0');
            i++;
        }
        if (i > c + 1 && i < payload.length() && payload.charAt(i) == ':') {
            long end = i + 1 + length;
            if (end < payload.length() && payload.charAt((int) end) == '\n') {
                fromStart = i + 1;
                fromEnd = (int) end;
            }
        }
        if (fromStart < 0) {
            fromStart = c + 1;
            fromEnd = payload.indexOf('\n', fromStart);
            if (fromEnd < 0) {
                return null;
            }
        }
        int e = payload.indexOf('\n', fromEnd + 1);
        int f = e < 0 ? -1 : payload.indexOf('\n', e + 1);
        if (f < 0) {
            return null;
        }
        return new Fields(a + 1, b + 1, c, fromStart, fromEnd, fromEnd + 1, e + 1, f + 1);
    }
}
