/** The random names the gateway hands out: session ids, guest user ids, history epochs. */
package io.switchboard.gateway.id;
