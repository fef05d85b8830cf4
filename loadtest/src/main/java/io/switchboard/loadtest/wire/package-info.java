/**
 * The benchmark's own load generator, {@link io.switchboard.loadtest.wire.WireClient}: plain Netty WebSocket
 * connections that speak just enough Switchboard or Socket.IO to measure. Depends on nothing else of loadtest.
 */
package io.switchboard.loadtest.wire;
