package io.switchboard.gateway.transport;

import io.netty.util.NetUtil;
import io.switchboard.gateway.config.EdgeConfig.AddressBlock;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * Who a request comes from, and the key it is limited under. The client is the TCP peer, unless the peer is a
 * trusted proxy: then it is the nearest address of {@code X-Forwarded-For} that is not a trusted proxy, read from
 * the right, since only the entries our own proxies appended can be believed. The key is an IPv4 address, or the
 * /64 network of an IPv6 address, since one subscriber commonly holds a whole /64.
 */
final class ClientAddresses {
    private final List<AddressBlock> trusted;

    ClientAddresses(List<AddressBlock> trusted) {
        this.trusted = List.copyOf(trusted);
    }

    boolean trusted(InetAddress address) {
        for (AddressBlock b : trusted) {
            if (b.contains(address)) {
                return true;
            }
        }
        return false;
    }

    /** The client of a request from {@code peer} carrying these {@code X-Forwarded-For} values (none: empty). */
    InetAddress client(InetAddress peer, List<String> forwardedFor) {
        if (forwardedFor.isEmpty() || !trusted(peer)) {
            return peer;
        }
        List<String> hops = new ArrayList<>();
        for (String value : forwardedFor) {
            for (String hop : value.split(",")) {
                hops.add(hop.trim());
            }
        }
        InetAddress nearest = peer;
        for (int i = hops.size() - 1; i >= 0; i--) {
            InetAddress hop = parse(hops.get(i));
            if (hop == null) {
                return nearest; // not an address: the hop that wrote it, a trusted proxy, is the best known
            }
            if (!trusted(hop)) {
                return hop;
            }
            nearest = hop;
        }
        return nearest;
    }

    /** The key that limits {@code address}: an IPv4 address, or an IPv6 /64 network such as {@code 2001:db8:0:1::/64}. */
    static String key(InetAddress address) {
        if (address instanceof Inet4Address) {
            return address.getHostAddress();
        }
        byte[] network = address.getAddress().clone();
        for (int i = 8; i < network.length; i++) {
            network[i] = 0;
        }
        try {
            return NetUtil.toAddressString(InetAddress.getByAddress(network)) + "/64";
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    /** An address literal of an {@code X-Forwarded-For} entry, with or without a port; null when it is none. */
    static InetAddress parse(String hop) {
        String s = hop;
        if (s.startsWith("[")) {
            int end = s.indexOf(']');
            s = end < 0 ? s : s.substring(1, end);
        } else if (s.indexOf(':') > 0 && s.indexOf(':') == s.lastIndexOf(':')) {
            s = s.substring(0, s.indexOf(':'));
        }
        byte[] bytes = NetUtil.createByteArrayFromIpAddressString(s);
        if (bytes == null) {
            return null;
        }
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            return null;
        }
    }
}
