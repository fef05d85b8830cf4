/** Every user's inbox: direct messages (and later random-connect events) with offsets, epochs and recovery. */
package io.switchboard.gateway.inbox;
