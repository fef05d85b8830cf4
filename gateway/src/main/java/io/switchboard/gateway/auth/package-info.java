/** Who a connection is: guests, JWT verification and the channel permissions a token grants. */
package io.switchboard.gateway.auth;
