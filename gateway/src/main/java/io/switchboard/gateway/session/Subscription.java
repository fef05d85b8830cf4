package io.switchboard.gateway.session;

import io.netty.buffer.ByteBuf;
import io.switchboard.gateway.channel.HistoryRead;
import io.switchboard.gateway.channel.Publication;
import io.switchboard.gateway.channel.Subscriber;
import io.switchboard.gateway.presence.PresenceService;
import io.switchboard.protocol.ServerFrame;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;

/**
 * One session's subscription to one channel (or its inbox). Until the history has been read it buffers what is
 * published; then it writes the reply, the recovered messages and the buffered ones in offset order, and from
 * then on each new message once: never a gap, never a duplicate. Confined to the session's I/O loop.
 */
final class Subscription implements Subscriber {
    private final Session session;
    private final String channel;
    private final boolean presence;
    private final boolean joinLeave;
    private final PresenceService.Listener presenceEvents = this::presenceEvent;
    private boolean ready;
    private boolean cancelled;
    private long lastOffset;
    private String epoch;
    private List<Publication> pendingPublications;
    private List<ByteBuf> pendingBuffers;
    private long pendingBytes;

    Subscription(Session session, String channel) {
        this(session, channel, false, false);
    }

    /** With {@code presence}, the user is present while subscribed; with {@code joinLeave}, it hears joins. */
    Subscription(Session session, String channel, boolean presence, boolean joinLeave) {
        this.session = session;
        this.channel = channel;
        this.presence = presence;
        this.joinLeave = joinLeave;
    }

    boolean presence() {
        return presence;
    }

    boolean joinLeave() {
        return joinLeave;
    }

    /** What receives the channel's {@code join} and {@code leave} for this subscriber, from any thread. */
    PresenceService.Listener presenceEvents() {
        return presenceEvents;
    }

    private void presenceEvent(ServerFrame event, ByteBuf wire) {
        try {
            session.onLoop(() -> {
                if (cancelled) {
                    wire.release();
                    return;
                }
                session.framesOut(event.type());
                session.outbound().writeWire(wire);
            });
        } catch (RejectedExecutionException e) {
            wire.release(); // the loop is shutting down: the connection goes with it
        }
    }

    String channel() {
        return channel;
    }

    /** The position of the last message written (or of the history when it was read). */
    long lastOffset() {
        return lastOffset;
    }

    String epoch() {
        return epoch;
    }

    @Override
    public int loop() {
        return session.loopIndex();
    }

    @Override
    public void deliver(Publication publication, ByteBuf wire) {
        if (cancelled) {
            return;
        }
        if (!ready) {
            if (pendingPublications == null) {
                pendingPublications = new ArrayList<>();
                pendingBuffers = new ArrayList<>();
            }
            pendingBytes += wire.readableBytes();
            if (pendingBytes > session.outboundLimit()) {
                cancel();
                session.slowConsumer();
                return;
            }
            pendingPublications.add(publication);
            pendingBuffers.add(wire.retainedDuplicate());
            return;
        }
        if (isNew(publication)) {
            session.outbound().writeWire(wire.retainedDuplicate());
        }
    }

    /**
     * Writes {@code reply} (may be null), then the messages the history read recovered, then those buffered
     * meanwhile that are newer, and switches to writing new messages as they come.
     */
    void ready(ServerFrame reply, HistoryRead read) {
        if (cancelled) {
            return;
        }
        if (reply != null) {
            session.outbound().write(reply);
        }
        epoch = read.epoch();
        lastOffset = read.latest();
        for (Publication p : read.publications()) {
            session.outbound().writeReplay(p.toFrame());
        }
        if (pendingPublications != null) {
            for (int i = 0; i < pendingPublications.size(); i++) {
                ByteBuf buffer = pendingBuffers.get(i);
                if (isNew(pendingPublications.get(i))) {
                    session.outbound().writeReplayWire(buffer);
                } else {
                    buffer.release();
                }
            }
            pendingPublications = null;
            pendingBuffers = null;
        }
        ready = true;
    }

    /** Whether the publication comes after the last one written; if so it becomes the last. */
    private boolean isNew(Publication p) {
        if (p.epoch().equals(epoch)) {
            if (p.offset() <= lastOffset) {
                return false;
            }
        } else {
            epoch = p.epoch();
        }
        lastOffset = p.offset();
        return true;
    }

    /** Whether it was unsubscribed or its connection closed. */
    boolean cancelled() {
        return cancelled;
    }

    void cancel() {
        cancelled = true;
        if (pendingBuffers != null) {
            pendingBuffers.forEach(ByteBuf::release);
            pendingBuffers = null;
            pendingPublications = null;
        }
    }
}
