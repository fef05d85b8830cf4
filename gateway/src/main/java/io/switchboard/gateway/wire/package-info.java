/** Primitives below both fan-out and transport: the I/O loops and server frames encoded once as wire bytes. */
package io.switchboard.gateway.wire;
