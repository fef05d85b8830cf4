/** Webhook events (docs/protocol.md section 11): what happened, kept until the backend acknowledged it. */
package io.switchboard.gateway.events;
