#include "loader/policy.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <toml++/toml.h>

#include "loader/error.hpp"
#include "loader/policy_syntax.hpp"

namespace airgap {
namespace {

constexpr std::uint16_t kDnsPort = 53;

class PolicyParser {
public:
	explicit PolicyParser(std::string source) : source_(std::move(source)) {}

	Policy parse(std::string_view text)
	{
		std::string checked = check_policy_syntax(text, source_);
		toml::table root;
		try {
			root = toml::parse(checked, source_);
		} catch (const toml::parse_error &e) {
			fail("{}:{}: invalid TOML: {}", source_, e.source().begin.line, e.description());
		}

		Policy policy;
		check_keys(root, "the top level", {"interfaces", "link", "allow-out", "allow-in", "forward"});
		if (auto *interfaces = table_at(root, "interfaces"))
			parse_interfaces(*interfaces, policy);
		if (auto *link = table_at(root, "link"))
			parse_link(*link, policy);
		parse_rules(root, "allow-out", RuleKind::allow_out, policy);
		parse_rules(root, "allow-in", RuleKind::allow_in, policy);
		parse_rules(root, "forward", RuleKind::forward, policy);
		check_unique(policy);
		return policy;
	}

private:
	template <typename... Args>
	[[noreturn]] void fail_at(const toml::node &node, fmt::format_string<Args...> format, Args &&...args)
	{
		fail("{}:{}: {}", source_, node.source().begin.line,
		     fmt::format(format, std::forward<Args>(args)...));
	}

	void check_keys(const toml::table &table, std::string_view where, std::set<std::string_view> known)
	{
		for (auto &[key, value] : table) {
			if (known.contains(key.str()))
				continue;
			if (auto near = nearest_key(key.str(), known))
				fail_at(value, "unknown key '{}' in {}; did you mean '{}'?", key.str(), where, *near);
			fail_at(value, "unknown key '{}' in {}", key.str(), where);
		}
	}

	// The known key within two edits of a misspelt one, if one is.
	static std::optional<std::string_view> nearest_key(std::string_view key, const std::set<std::string_view> &known)
	{
		std::optional<std::string_view> best;
		std::size_t best_distance = 3;
		for (std::string_view candidate : known) {
			std::size_t distance = edit_distance(key, candidate);
			if (distance < best_distance) {
				best = candidate;
				best_distance = distance;
			}
		}
		return best;
	}

	// Levenshtein distance: insertions, deletions and substitutions.
	static std::size_t edit_distance(std::string_view a, std::string_view b)
	{
		std::vector<std::size_t> row(b.size() + 1);
		for (std::size_t j = 0; j <= b.size(); j++)
			row[j] = j;
		for (std::size_t i = 1; i <= a.size(); i++) {
			std::size_t diagonal = row[0];
			row[0] = i;
			for (std::size_t j = 1; j <= b.size(); j++) {
				std::size_t above = row[j];
				row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
				diagonal = above;
			}
		}
		return row[b.size()];
	}

	const toml::table *table_at(const toml::table &root, std::string_view key)
	{
		const toml::node *node = root.get(key);
		if (!node)
			return nullptr;
		if (!node->is_table())
			fail_at(*node, "'{}' must be a table ([{}])", key, key);
		return node->as_table();
	}

	std::string string_at(const toml::node &node, std::string_view what)
	{
		if (!node.is_string())
			fail_at(node, "{} must be a string", what);
		return node.as_string()->get();
	}

	// A rule's field, for errors that the rule's context and line are added to.
	static std::string field_string(const toml::node &node, std::string_view what)
	{
		if (!node.is_string())
			fail("{} must be a string", what);
		return node.as_string()->get();
	}

	std::vector<std::string> strings_at(const toml::node &node, std::string_view what)
	{
		std::vector<std::string> out;
		if (node.is_array()) {
			for (auto &item : *node.as_array()) {
				if (!item.is_string())
					break;
				out.push_back(item.as_string()->get());
			}
		}
		if (!node.is_array() || out.size() != node.as_array()->size())
			fail_at(node, "{} must be an array of strings", what);
		return out;
	}

	void parse_interfaces(const toml::table &table, Policy &policy)
	{
		check_keys(table, "[interfaces]", {"uplink", "bridges"});
		if (auto *uplink = table.get("uplink")) {
			policy.uplink = string_at(*uplink, "interfaces.uplink");
			try {
				validate_interface_name(*policy.uplink, false);
			} catch (const Error &e) {
				fail_at(*uplink, "interfaces.uplink: {}", e.what());
			}
		}
		if (auto *bridges = table.get("bridges")) {
			policy.bridges = strings_at(*bridges, "interfaces.bridges");
			for (auto &bridge : policy.bridges) {
				try {
					validate_interface_name(bridge, true);
				} catch (const Error &e) {
					fail_at(*bridges, "interfaces.bridges: {}", e.what());
				}
			}
		}
	}

	void parse_link(const toml::table &table, Policy &policy)
	{
		check_keys(table, "[link]", {"dhcp", "dns"});
		if (auto *dhcp = table.get("dhcp")) {
			if (!dhcp->is_boolean())
				fail_at(*dhcp, "link.dhcp must be true or false");
			policy.dhcp = dhcp->as_boolean()->get();
		}
		if (auto *dns = table.get("dns")) {
			for (auto &text : strings_at(*dns, "link.dns")) {
				try {
					Prefix resolver = Prefix::parse(text);
					if (resolver.len != 128)
						fail("a resolver is one address, not '{}'", text);
					policy.dns.push_back(resolver);
				} catch (const Error &e) {
					fail_at(*dns, "link.dns: {}", e.what());
				}
			}
		}
	}

	void parse_rules(const toml::table &root, std::string_view key, RuleKind kind, Policy &policy)
	{
		const toml::node *node = root.get(key);
		if (!node)
			return;
		if (!node->is_array_of_tables())
			fail_at(*node, "'{}' must be an array of tables ([[{}]])", key, key);
		for (auto &item : *node->as_array())
			policy.rules.push_back(parse_rule(*item.as_table(), key, kind));
	}

	Rule parse_rule(const toml::table &table, std::string_view section, RuleKind kind)
	{
		std::string_view peer_key = kind == RuleKind::allow_out ? "to" : "from";
		std::string where = fmt::format("[[{}]]", section);
		check_keys(table, where, {"name", "proto", "port", peer_key});

		Rule rule;
		rule.kind = kind;
		const toml::node *name = table.get("name");
		if (!name)
			fail_at(table, "{} needs a name", where);
		rule.name = string_at(*name, "name");
		where = fmt::format("{} rule '{}'", section, rule.name);

		// The line an error names: the field being read, else the table's.
		const toml::node *at = &table;
		try {
			const toml::node *proto = table.get("proto");
			if (!proto)
				fail("'proto' is missing");
			at = proto;
			if (proto->is_integer()) {
				auto value = proto->as_integer()->get();
				if (value < 0 || value > 255)
					fail("invalid protocol number {}: expected 0..255", value);
				rule.proto = static_cast<std::uint8_t>(value);
			} else {
				rule.proto = parse_protocol(field_string(*proto, "proto"));
			}

			const toml::node *port = table.get("port");
			at = port ? port : &table;
			if (port && port->is_integer()) {
				auto value = port->as_integer()->get();
				if (value < 1 || value > 65535)
					fail("invalid port {}: expected 1..65535 or \"any\"", value);
				rule.port = static_cast<std::uint16_t>(value);
			} else if (port) {
				rule.port = parse_port(field_string(*port, "port"));
			} else if (protocol_has_ports(rule.proto)) {
				fail("'port' is missing: give a port or \"any\"");
			}

			const toml::node *peer = table.get(peer_key);
			at = peer ? peer : &table;
			if (peer)
				parse_peer(field_string(*peer, peer_key), rule);
			else if (kind != RuleKind::forward)
				fail("'{}' is missing: give an address, a prefix or \"any\"", peer_key);
			at = &table;
			rule.validate();
		} catch (const Error &e) {
			fail_at(*at, "{}: {}", where, e.what());
		}
		lines_[rule.name] = table.source().begin.line;
		return rule;
	}

	void check_unique(const Policy &policy)
	{
		auto rules = policy.effective_rules();
		std::unordered_set<std::string> names;
		std::unordered_map<std::string, std::size_t> matches;
		for (std::size_t i = 0; i < rules.size(); i++) {
			if (!names.insert(rules[i].name).second)
				fail("{}:{}: rule name '{}' is used twice", source_, line_of(rules[i]), rules[i].name);
			auto [earlier, inserted] = matches.emplace(rules[i].match_key(), i);
			if (!inserted)
				fail("{}:{}: rule '{}' matches the same packets as rule '{}'", source_,
				     line_of(rules[i]), rules[i].name, rules[earlier->second].name);
		}
	}

	unsigned line_of(const Rule &rule)
	{
		auto it = lines_.find(rule.name);
		return it == lines_.end() ? 0 : it->second;
	}

	std::string source_;
	std::map<std::string, unsigned> lines_;
};

} // namespace

void validate_interface_name(std::string_view name, bool pattern_allowed)
{
	const char *what = pattern_allowed ? "interface name or pattern" : "interface name";
	if (name.empty() || name.size() >= 16)
		fail("invalid {} '{}': expected 1 to 15 characters", what, name);
	for (char c : name) {
		auto byte = static_cast<unsigned char>(c);
		if (byte <= 0x20 || byte >= 0x7f || c == '/' || c == ':')
			fail("invalid {} '{}': '/', ':', spaces and control characters are not allowed", what, name);
		if (!pattern_allowed && (c == '*' || c == '?' || c == '['))
			fail("invalid {} '{}': a pattern is not allowed here", what, name);
	}
	if (name == "." || name == "..")
		fail("invalid {} '{}'", what, name);
}

std::string dns_rule_name(std::size_t index, std::uint8_t proto)
{
	return fmt::format("dns-{}-{}", index, protocol_name(proto));
}

std::vector<Rule> Policy::effective_rules() const
{
	std::vector<Rule> out;
	for (std::size_t i = 0; i < dns.size(); i++) {
		for (std::uint8_t proto : {std::uint8_t(IPPROTO_UDP), std::uint8_t(IPPROTO_TCP)}) {
			Rule rule;
			rule.kind = RuleKind::allow_out;
			rule.proto = proto;
			rule.port = kDnsPort;
			rule.peer = dns[i];
			rule.name = dns_rule_name(i + 1, proto);
			out.push_back(rule);
		}
	}
	out.insert(out.end(), rules.begin(), rules.end());
	return out;
}

Policy parse_policy(std::string_view text, const std::string &source)
{
	return PolicyParser(source).parse(text);
}

Policy parse_policy_file(const std::string &path)
{
	std::ifstream in(path);
	if (!in)
		fail("cannot read policy file {}: {}", path, errno_text(errno));
	std::stringstream text;
	text << in.rdbuf();
	return parse_policy(text.str(), path);
}

} // namespace airgap
