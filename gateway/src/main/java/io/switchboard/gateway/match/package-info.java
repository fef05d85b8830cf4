/** Random connect in the gateway: requests to the matchmaker, and its outcomes as events in users' inboxes. */
package io.switchboard.gateway.match;
