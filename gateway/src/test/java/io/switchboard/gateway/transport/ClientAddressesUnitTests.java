package io.switchboard.gateway.transport;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.config.EdgeConfig.AddressBlock;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** Who a request comes from, behind trusted proxies or not, and the key it is limited under. */
class ClientAddressesUnitTests {
    private final ClientAddresses addresses =
            new ClientAddresses(List.of(AddressBlock.parse("10.0.0.0/8"), AddressBlock.parse("fd00::/8")));

    private static InetAddress ip(String literal) {
        return ClientAddresses.parse(literal);
    }

    @Test
    @DisplayName("an untrusted peer is the client, whatever X-Forwarded-For says")
    void untrustedPeerIsTheClient() {
        assertThat(addresses.client(ip("198.51.100.1"), List.of("203.0.113.9"))).isEqualTo(ip("198.51.100.1"));
    }

    @Test
    @DisplayName("behind trusted proxies the client is the rightmost untrusted hop; entries left of it are not"
            + " believed")
    void trustedProxiesNameTheClient() {
        assertThat(addresses.client(ip("10.0.0.2"), List.of())).isEqualTo(ip("10.0.0.2"));
        assertThat(addresses.client(ip("10.0.0.2"), List.of("203.0.113.9"))).isEqualTo(ip("203.0.113.9"));
        assertThat(addresses.client(ip("10.0.0.2"), List.of("1.1.1.1, 203.0.113.9, 10.0.0.7")))
                .isEqualTo(ip("203.0.113.9"));
        assertThat(addresses.client(ip("10.0.0.2"), List.of("1.1.1.1", "203.0.113.9")))
                .as("several headers are one list")
                .isEqualTo(ip("203.0.113.9"));
        assertThat(addresses.client(ip("10.0.0.2"), List.of("10.0.0.5, 10.0.0.6")))
                .as("only proxies: the farthest")
                .isEqualTo(ip("10.0.0.5"));
        assertThat(addresses.client(ip("10.0.0.2"), List.of("203.0.113.9, unknown")))
                .as("garbage: the proxy that wrote it")
                .isEqualTo(ip("10.0.0.2"));
        assertThat(addresses.client(ip("10.0.0.2"), List.of("203.0.113.9:4711")))
                .isEqualTo(ip("203.0.113.9"));
        assertThat(addresses.client(ip("fd00::1"), List.of("[2001:db8::1]:443")))
                .isEqualTo(ip("2001:db8::1"));
    }

    @Test
    @DisplayName("an IPv4 client is limited by its address, an IPv6 client by its /64")
    void keys() {
        assertThat(ClientAddresses.key(ip("203.0.113.9"))).isEqualTo("203.0.113.9");
        assertThat(ClientAddresses.key(ip("2001:db8:1:2:3:4:5:6"))).isEqualTo("2001:db8:1:2::/64");
        assertThat(ClientAddresses.key(ip("2001:db8:1:2:ffff::1"))).isEqualTo("2001:db8:1:2::/64");
    }
}
