/** Connections after the WebSocket handshake: the hello handshake, requests, heartbeats, limits and writes. */
package io.switchboard.gateway.session;
