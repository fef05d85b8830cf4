/** The reference Java client of the Switchboard protocol, on reactor-netty. */
package io.switchboard.protocol.client;
