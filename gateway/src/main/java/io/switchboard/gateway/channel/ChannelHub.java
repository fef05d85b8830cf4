package io.switchboard.gateway.channel;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.wire.EventLoops;
import io.switchboard.gateway.wire.WireFrames;
import io.switchboard.protocol.ServerFrame;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * This instance's index from channel to local subscribers, grouped by I/O loop. A publication is encoded once
 * into one buffer of wire bytes; each loop that has subscribers gets one task that writes a duplicate of it to
 * each of them. Subscriber arrays are copied on change, so fan-out iterates plain arrays without locking.
 */
public final class ChannelHub {
    private final Map<String, Subscriber[][]> index = new ConcurrentHashMap<>();
    private final EventLoops loops;
    private final GatewayMetrics metrics;

    public ChannelHub(EventLoops loops, GatewayMetrics metrics) {
        this.loops = loops;
        this.metrics = metrics;
    }

    /** Adds a subscriber; returns true when it is the channel's first on this instance. */
    public boolean add(String channel, Subscriber subscriber) {
        boolean[] first = new boolean[1];
        index.compute(channel, (c, groups) -> {
            if (groups == null) {
                first[0] = true;
                groups = new Subscriber[loops.count()][0];
            }
            Subscriber[] subs = groups[subscriber.loop()];
            for (Subscriber s : subs) {
                if (s == subscriber) {
                    return groups;
                }
            }
            Subscriber[][] copy = groups.clone();
            Subscriber[] grown = Arrays.copyOf(subs, subs.length + 1);
            grown[subs.length] = subscriber;
            copy[subscriber.loop()] = grown;
            return copy;
        });
        return first[0];
    }

    /** Removes a subscriber; returns true when it was the channel's last on this instance. */
    public boolean remove(String channel, Subscriber subscriber) {
        boolean[] last = new boolean[1];
        index.computeIfPresent(channel, (c, groups) -> {
            Subscriber[] subs = groups[subscriber.loop()];
            int at = -1;
            for (int i = 0; i < subs.length; i++) {
                if (subs[i] == subscriber) {
                    at = i;
                    break;
                }
            }
            if (at < 0) {
                return groups;
            }
            Subscriber[] shrunk = new Subscriber[subs.length - 1];
            System.arraycopy(subs, 0, shrunk, 0, at);
            System.arraycopy(subs, at + 1, shrunk, at, subs.length - at - 1);
            Subscriber[][] copy = groups.clone();
            copy[subscriber.loop()] = shrunk;
            for (Subscriber[] g : copy) {
                if (g.length > 0) {
                    return copy;
                }
            }
            last[0] = true;
            return null;
        });
        return last[0];
    }

    public boolean hasSubscribers(String channel) {
        return index.containsKey(channel);
    }

    /** Channels with at least one local subscriber. */
    public int channels() {
        return index.size();
    }

    /**
     * Hands a publication to every local subscriber of its channel, each on its own loop; returns how many
     * there were. Publications of one channel must be dispatched in offset order, from one thread at a time.
     */
    public int dispatch(Publication publication) {
        Subscriber[][] groups = index.get(publication.channel());
        if (groups == null) {
            return 0;
        }
        ServerFrame frame = publication.toFrame();
        ByteBuf wire = WireFrames.encode(PooledByteBufAllocator.DEFAULT, frame);
        int total = 0;
        try {
            for (int i = 0; i < groups.length; i++) {
                Subscriber[] subs = groups[i];
                if (subs.length == 0) {
                    continue;
                }
                total += subs.length;
                // Always a task, even for the current loop: the caller may hold the channel's lock, which must
                // not wait for a long fan-out; tasks keep the dispatch order, so offsets stay in order.
                ByteBuf shared = wire.retain();
                loops.loop(i).execute(() -> {
                    try {
                        deliverAll(subs, publication, shared);
                    } finally {
                        shared.release();
                    }
                });
            }
        } finally {
            wire.release();
        }
        metrics.framesOut(frame.type(), total);
        return total;
    }

    private void deliverAll(Subscriber[] subs, Publication publication, ByteBuf wire) {
        for (Subscriber s : subs) {
            s.deliver(publication, wire);
        }
        if (publication.publishedNanos() != 0) {
            metrics.publishToWrite(publication.publishedNanos(), System.nanoTime());
        }
    }
}
