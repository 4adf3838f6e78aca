#include "loader/rule.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "loader/error.hpp"

namespace airgap {

std::string_view rule_kind_name(RuleKind kind)
{
	switch (kind) {
	case RuleKind::allow_out:
		return "allow-out";
	case RuleKind::allow_in:
		return "allow-in";
	case RuleKind::forward:
		return "forward";
	}
	return "unknown";
}

void validate_rule_name(std::string_view name)
{
	if (name.empty())
		fail("invalid rule name: the name is empty");
	if (name.size() >= AG_RULE_NAME_LEN)
		fail("invalid rule name '{}': longer than {} characters", name, AG_RULE_NAME_LEN - 1);
	auto allowed = [](char c) {
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		       c == '.' || c == '_' || c == '-';
	};
	if (!std::all_of(name.begin(), name.end(), allowed))
		fail("invalid rule name '{}': use letters, digits, '.', '_' and '-'", name);
}

bool is_host_name(std::string_view text)
{
	if (text.empty() || text.size() >= AG_RULE_HOST_LEN)
		return false;
	std::size_t start = 0;
	bool last_has_letter = false;
	while (start <= text.size()) {
		std::size_t dot = text.find('.', start);
		std::string_view label = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
		if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
			return false;
		last_has_letter = false;
		for (char c : label) {
			bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
			if (!letter && !(c >= '0' && c <= '9') && c != '-')
				return false;
			last_has_letter |= letter;
		}
		if (dot == std::string_view::npos)
			break;
		start = dot + 1;
	}
	return last_has_letter;
}

void parse_peer(std::string_view text, Rule &rule)
{
	try {
		rule.peer = Prefix::parse(text);
		rule.host.clear();
	} catch (const Error &) {
		if (!is_host_name(text))
			throw;
		rule.peer = Prefix::any();
		rule.host = std::string(text);
	}
}

void Rule::validate() const
{
	validate_rule_name(name);
	if (!host.empty() && kind == RuleKind::forward)
		fail("invalid rule '{}': a forward's source is a container address or prefix, not a host name '{}'",
		     name, host);
	if (!host.empty() && !is_host_name(host))
		fail("invalid rule '{}': '{}' is not a valid host name", name, host);
	if (port != 0 && !protocol_has_ports(proto))
		fail("invalid rule '{}': protocol {} has no ports, so the port must be 'any'", name,
		     protocol_name(proto));
}

bool Rule::same_match(const Rule &other) const
{
	return kind == other.kind && proto == other.proto && port == other.port && peer == other.peer &&
	       host == other.host;
}

std::string Rule::match_key() const
{
	return fmt::format("{} {} {} {} {}", static_cast<unsigned>(kind), proto, port, peer.to_string(), host);
}

std::string Rule::peer_text() const
{
	return host.empty() ? peer.to_string() : host;
}

std::string Rule::describe() const
{
	std::string port_text = port ? fmt::format(" port {}", port) : std::string();
	switch (kind) {
	case RuleKind::allow_out:
		return fmt::format("allow-out {}: {} to {}{}", name, protocol_name(proto), peer_text(),
				   port_text);
	case RuleKind::allow_in:
		return fmt::format("allow-in {}: {} from {}{}", name, protocol_name(proto), peer_text(),
				   port_text);
	case RuleKind::forward:
		return fmt::format("forward {}: {}{} from {}", name, protocol_name(proto), port_text,
				   peer_text());
	}
	return name;
}

ag_rule_key Rule::map_key(const Prefix &address) const
{
	ag_rule_key key{};
	key.prefixlen = AG_RULE_KEY_FIXED_BITS + address.len;
	key.kind = static_cast<std::uint8_t>(kind);
	key.proto = proto;
	key.port = htons(port);
	std::memcpy(key.addr, address.addr.data(), sizeof(key.addr));
	return key;
}

ag_rule_info Rule::map_info(std::uint32_t gen) const
{
	ag_rule_info info{};
	info.gen = gen;
	info.kind = static_cast<std::uint8_t>(kind);
	info.proto = proto;
	info.port = htons(port);
	std::memcpy(info.addr, peer.addr.data(), sizeof(info.addr));
	info.addr_prefixlen = peer.len;
	std::memcpy(info.name, name.data(), std::min(name.size(), sizeof(info.name) - 1));
	std::memcpy(info.host, host.data(), std::min(host.size(), sizeof(info.host) - 1));
	return info;
}

Rule Rule::from_map_info(const ag_rule_info &info)
{
	Rule rule;
	rule.kind = static_cast<RuleKind>(info.kind);
	rule.proto = info.proto;
	rule.port = ntohs(info.port);
	std::memcpy(rule.peer.addr.data(), info.addr, sizeof(info.addr));
	rule.peer.len = info.addr_prefixlen;
	rule.name.assign(info.name, strnlen(info.name, sizeof(info.name)));
	rule.host.assign(info.host, strnlen(info.host, sizeof(info.host)));
	return rule;
}

} // namespace airgap
