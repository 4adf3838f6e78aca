#include "loader/policy_writer.hpp"

#include <netinet/in.h>

#include <algorithm>

#include <fmt/format.h>

namespace airgap {
namespace {

constexpr std::uint16_t kDnsPort = 53;

std::string quoted(const std::string &text)
{
	// Names, addresses, protocols and interface names never contain quotes
	// or backslashes: the parser and the kernel reject them.
	return fmt::format("\"{}\"", text);
}

std::string quoted_list(const std::vector<std::string> &items)
{
	std::string out = "[";
	for (std::size_t i = 0; i < items.size(); i++)
		out += (i ? ", " : "") + quoted(items[i]);
	return out + "]";
}

std::string_view section_of(RuleKind kind)
{
	switch (kind) {
	case RuleKind::allow_out:
		return "allow-out";
	case RuleKind::allow_in:
		return "allow-in";
	case RuleKind::forward:
		return "forward";
	}
	return "";
}

const Rule *find_dns_rule(const std::vector<Rule> &rules, std::size_t index, std::uint8_t proto)
{
	std::string name = dns_rule_name(index, proto);
	auto it = std::find_if(rules.begin(), rules.end(), [&](const Rule &r) {
		return r.name == name && r.kind == RuleKind::allow_out && r.proto == proto && r.port == kDnsPort &&
		       r.peer.len == 128;
	});
	return it == rules.end() ? nullptr : &*it;
}

} // namespace

Policy policy_from_rules(const std::vector<Rule> &rules)
{
	Policy policy;
	std::vector<std::string> dns_names;
	for (std::size_t index = 1;; index++) {
		const Rule *udp = find_dns_rule(rules, index, IPPROTO_UDP);
		const Rule *tcp = find_dns_rule(rules, index, IPPROTO_TCP);
		if (!udp || !tcp || udp->peer != tcp->peer)
			break;
		policy.dns.push_back(udp->peer);
		dns_names.push_back(udp->name);
		dns_names.push_back(tcp->name);
	}
	for (auto &rule : rules) {
		if (std::find(dns_names.begin(), dns_names.end(), rule.name) == dns_names.end())
			policy.rules.push_back(rule);
	}
	return policy;
}

std::string format_policy(const Policy &policy)
{
	std::string out = "# airgap-bpf policy\n";
	if (policy.uplink || !policy.bridges.empty()) {
		out += "\n[interfaces]\n";
		if (policy.uplink)
			out += fmt::format("uplink = {}\n", quoted(*policy.uplink));
		if (!policy.bridges.empty())
			out += fmt::format("bridges = {}\n", quoted_list(policy.bridges));
	}

	std::vector<std::string> dns;
	for (auto &resolver : policy.dns)
		dns.push_back(resolver.to_string());
	out += fmt::format("\n[link]\ndhcp = {}\ndns = {}\n", policy.dhcp ? "true" : "false", quoted_list(dns));

	for (auto &rule : policy.rules) {
		out += fmt::format("\n[[{}]]\nname = {}\nproto = {}\n", section_of(rule.kind), quoted(rule.name),
				   quoted(protocol_name(rule.proto)));
		if (protocol_has_ports(rule.proto))
			out += rule.port ? fmt::format("port = {}\n", rule.port) : std::string("port = \"any\"\n");
		out += fmt::format("{} = {}\n", rule.kind == RuleKind::allow_out ? "to" : "from",
				   quoted(rule.peer_text()));
	}
	return out;
}

} // namespace airgap
