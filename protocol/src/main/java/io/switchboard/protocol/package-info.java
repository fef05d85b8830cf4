/** The Switchboard wire protocol (docs/protocol.md): frames as immutable values, the JSON codec, codes and limits. */
package io.switchboard.protocol;
