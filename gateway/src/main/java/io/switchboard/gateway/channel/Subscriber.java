package io.switchboard.gateway.channel;

import io.netty.buffer.ByteBuf;

/**
 * A local receiver of a channel's publications. It belongs to one I/O loop ({@link #loop()}) and is only ever
 * called on that loop.
 */
public interface Subscriber {

    /** The number of the I/O loop this subscriber lives on (see {@code EventLoops}). */
    int loop();

    /**
     * Receives one publication and its frame as WebSocket wire bytes. The buffer is shared by every subscriber
     * and still owned by the caller: retain a duplicate to keep or write it.
     */
    void deliver(Publication publication, ByteBuf wire);
}
