/** The proxy hooks: the application's backend asked over HTTP to allow, adjust or answer a client's request. */
package io.switchboard.gateway.hooks;
