/** Presence (docs/protocol.md section 10): who is in a channel, join and leave, and the counts of users online. */
package io.switchboard.gateway.presence;
