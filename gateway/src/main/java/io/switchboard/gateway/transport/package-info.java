/** The network edge: the HTTP server and its routes, the WebSocket endpoint, wire encoding and I/O loops. */
package io.switchboard.gateway.transport;
