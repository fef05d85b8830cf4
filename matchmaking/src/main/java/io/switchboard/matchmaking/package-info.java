/** Random connect: the queue, the pairing rules and the matches, in memory or in Redis (docs/protocol.md section 6). */
package io.switchboard.matchmaking;
