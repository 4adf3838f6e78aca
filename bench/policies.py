#!/usr/bin/python3
"""Write the benchmark's rule set of COUNT rules in each tool's input format.

The rule set matches bench/bench.cpp's rule_set(): allow-out tcp/443 and
udp/5000 to the relay, a forward of tcp/8443, then allow-in tcp/22 rules from
every other address of 172.16.0.0/12 starting at 172.16.0.2.
"""
import ipaddress
import sys

FIXED = 3
RELAY = "203.0.113.10"


def allow_in_addresses(count):
    base = int(ipaddress.IPv4Address("172.16.0.0"))
    return [str(ipaddress.IPv4Address(base + 2 + 2 * i)) for i in range(max(count - FIXED, 0))]


def airgap(count, uplink):
    out = [f'[interfaces]\nuplink = "{uplink}"\n',
           f'[[allow-out]]\nname = "relay-api"\nproto = "tcp"\nto = "{RELAY}"\nport = 443\n',
           f'[[allow-out]]\nname = "relay-data"\nproto = "udp"\nto = "{RELAY}"\nport = 5000\n',
           '[[forward]]\nname = "billing-db"\nproto = "tcp"\nport = 8443\nfrom = "172.17.0.5"\n']
    for i, addr in enumerate(allow_in_addresses(count)):
        out.append(f'[[allow-in]]\nname = "in-{i}"\nproto = "tcp"\nfrom = "{addr}"\nport = 22\n')
    return "\n".join(out)


def iptables(count):
    """iptables-restore input: the recipe's INPUT chain with one rule per allow-in rule."""
    out = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
           "-A INPUT -i lo -j ACCEPT",
           "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"]
    out += [f"-A INPUT -s {a}/32 -p tcp -m tcp --dport 22 -j ACCEPT" for a in allow_in_addresses(count)]
    out += ["-A INPUT -j DROP", "COMMIT", ""]
    return "\n".join(out)


def nft(count, use_set):
    """nft -f input: the same chain, with the allow-in rules as rules or as one set."""
    addrs = allow_in_addresses(count)
    out = ["table inet agbench {", "  counter dropped { }"]
    if use_set:
        out.append("  set allow_in { type ipv4_addr . inet_service; size 262144;")
        if addrs:
            out.append("    elements = { " + ", ".join(f"{a} . 22" for a in addrs) + " }")
        out.append("  }")
    out += ["  chain input {", "    type filter hook input priority filter; policy drop;",
            "    iif lo accept", "    ct state established,related accept"]
    if use_set:
        out.append("    ip saddr . tcp dport @allow_in accept")
    else:
        out += [f"    ip saddr {a} tcp dport 22 accept" for a in addrs]
    out += ["    counter name dropped drop", "  }", "}", ""]
    return "\n".join(out)


def main():
    kind, count = sys.argv[1], int(sys.argv[2])
    if kind == "airgap":
        text = airgap(count, sys.argv[3] if len(sys.argv) > 3 else "wan0")
    elif kind == "iptables":
        text = iptables(count)
    elif kind == "nft-chain":
        text = nft(count, False)
    elif kind == "nft-set":
        text = nft(count, True)
    else:
        sys.exit(f"unknown format '{kind}': expected airgap, iptables, nft-chain or nft-set")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
