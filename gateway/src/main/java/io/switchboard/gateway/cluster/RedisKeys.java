package io.switchboard.gateway.cluster;

import io.switchboard.gateway.channel.Publication;

/**
 * How channels live in Redis. Every key of one channel shares the hash tag {@code {channel}}, so a channel's
 * offset counter, epoch, history and (sharded) pub/sub channel sit in one slot of a Redis Cluster. A stored or
 * published message is {@code offset \n epoch \n type \n from \n node \n nanos \n data}; {@code node} and
 * {@code nanos} let the publishing instance measure publish-to-write latency.
 */
final class RedisKeys {
    static final String PREFIX = "sb:";

    private RedisKeys() {
    }

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

    /** The part of a message the publisher writes; the script puts offset and epoch before it. */
    static String body(String type, String from, String node, long nanos, String data) {
        return type + '\n' + (from == null ? "" : from) + '\n' + node + '\n' + nanos + '\n' + data;
    }

    /**
     * What tells two messages with the same offset apart: a hash of the publisher's part before the data (type,
     * sender, publishing instance, its clock), which differs between any two publishes.
     */
    static int tag(String payload) {
        int end = payload.length();
        int at = 0;
        for (int i = 0; i < 6 && at >= 0; i++) {
            at = payload.indexOf('\n', at + (i == 0 ? 0 : 1));
        }
        if (at > 0) {
            end = at;
        }
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
        int a = payload.indexOf('\n');
        int b = payload.indexOf('\n', a + 1);
        int c = payload.indexOf('\n', b + 1);
        int d = payload.indexOf('\n', c + 1);
        int e = payload.indexOf('\n', d + 1);
        int f = payload.indexOf('\n', e + 1);
        if (a < 0 || b < 0 || c < 0 || d < 0 || e < 0 || f < 0) {
            throw new IllegalArgumentException("not a Switchboard message: " + payload.substring(0,
                    Math.min(40, payload.length())));
        }
        long offset = Long.parseLong(payload, 0, a, 10);
        String epoch = payload.substring(a + 1, b);
        String type = payload.substring(b + 1, c);
        String from = c + 1 == d ? null : payload.substring(c + 1, d);
        boolean mine = payload.regionMatches(d + 1, node, 0, node.length()) && d + 1 + node.length() == e;
        long nanos = mine ? Long.parseLong(payload, e + 1, f, 10) : 0;
        return new Publication(channel, offset, epoch, type, from, payload.substring(f + 1), nanos);
    }
}
