/** The Switchboard wire protocol (PROTOCOL.md): frames as immutable values, the JSON codec, codes and limits. */
package io.switchboard.protocol;
