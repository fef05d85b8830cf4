/** Channels: offsets and epochs, bounded history, the broker between instances and the local fan-out index. */
package io.switchboard.gateway.channel;
