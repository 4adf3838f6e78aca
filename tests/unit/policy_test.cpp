#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "error_message.hpp"
#include "loader/policy.hpp"

using airgap::Policy;
using airgap::Prefix;
using airgap::Rule;
using airgap::RuleKind;

namespace {

const char *const kSource = "policy.toml";

// The example policy of the documentation, one rule of each kind.
const char *const kFullPolicy = R"(# Comments may hold any text: [not-a-table] "quotes" = \ and ü.
[interfaces]
uplink = "wan0"      # the uplink
bridges = [
  "docker0",
  "br-*",            # docker compose networks
]

[link]
dhcp = true
dns = ["198.51.100.53", "2001:db8::53"]

[[allow-out]]
name = "relay-api"
proto = "tcp"
to = "203.0.113.10"
port = 443

[[allow-out]]
name = "relay-data"
proto = "udp"
to = "203.0.113.0/24"
port = "any"

[[allow-out]]
name = "ping-relay"
proto = "icmp"
to = "203.0.113.10"

[[allow-in]]
name = "mgmt-ssh"
proto = "tcp"
from = "203.0.113.0/24"
port = 22

[[forward]]
name = "billing-db"
proto = "tcp"
port = 8443
from = "172.17.0.5"

[[forward]]
name = "metrics"
proto = "udp"
port = "9125"
)";

Rule make_rule(RuleKind kind, std::uint8_t proto, std::uint16_t port, const char *peer, const char *name)
{
	Rule rule;
	rule.kind = kind;
	rule.proto = proto;
	rule.port = port;
	rule.peer = Prefix::parse(peer);
	rule.name = std::string(name);
	return rule;
}

} // namespace

TEST_CASE("parse_policy of a full file", "[policy]")
{
	Policy policy = airgap::parse_policy(kFullPolicy, kSource);

	REQUIRE(policy.uplink.has_value());
	CHECK(*policy.uplink == "wan0");
	CHECK(policy.bridges == std::vector<std::string>{"docker0", "br-*"});
	CHECK(policy.dhcp);
	CHECK(policy.dns == std::vector<Prefix>{Prefix::parse("198.51.100.53"), Prefix::parse("2001:db8::53")});

	const std::vector<Rule> expected = {
		make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "203.0.113.10", "relay-api"),
		make_rule(RuleKind::allow_out, IPPROTO_UDP, 0, "203.0.113.0/24", "relay-data"),
		make_rule(RuleKind::allow_out, IPPROTO_ICMP, 0, "203.0.113.10", "ping-relay"),
		make_rule(RuleKind::allow_in, IPPROTO_TCP, 22, "203.0.113.0/24", "mgmt-ssh"),
		make_rule(RuleKind::forward, IPPROTO_TCP, 8443, "172.17.0.5", "billing-db"),
		make_rule(RuleKind::forward, IPPROTO_UDP, 9125, "any", "metrics"),
	};
	REQUIRE(policy.rules.size() == expected.size());
	for (std::size_t i = 0; i < expected.size(); i++) {
		INFO("rule " << i << ": " << policy.rules[i].describe());
		CHECK(policy.rules[i] == expected[i]);
	}
}

TEST_CASE("parse_policy of host-name rules", "[policy][host]")
{
	Policy policy = airgap::parse_policy("[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\n"
					     "to = \"relay.example.net\"\nport = 443\n\n"
					     "[[allow-in]]\nname = \"admin\"\nproto = \"tcp\"\n"
					     "from = \"admin.example.net\"\nport = 22\n",
					     kSource);
	REQUIRE(policy.rules.size() == 2);
	CHECK(policy.rules[0].host == "relay.example.net");
	CHECK(policy.rules[0].peer == Prefix::any());
	CHECK(policy.rules[1].host == "admin.example.net");
	CHECK(policy.rules[1].kind == RuleKind::allow_in);

	std::string message = error_message([] {
		airgap::parse_policy("[[forward]]\nname = \"db\"\nproto = \"tcp\"\nport = 8443\n"
				     "from = \"db.example.net\"\n",
				     kSource);
	});
	CHECK_THAT(message, Catch::StartsWith(std::string(kSource) + ":1: "));
	CHECK_THAT(message, Catch::Contains("not a host name 'db.example.net'"));
}

TEST_CASE("parse_policy of an empty file", "[policy]")
{
	Policy policy = airgap::parse_policy("", kSource);
	CHECK_FALSE(policy.uplink.has_value());
	CHECK(policy.bridges.empty());
	CHECK_FALSE(policy.dhcp);
	CHECK(policy.dns.empty());
	CHECK(policy.rules.empty());
	CHECK(policy.effective_rules().empty());
}

TEST_CASE("validate_interface_name", "[policy]")
{
	struct Row {
		const char *name;
		bool pattern_allowed;
		const char *fault; // nullptr when the name is valid
	};
	const Row rows[] = {
		{"wan0", false, nullptr},
		{"docker0", true, nullptr},
		{"br-*", true, nullptr},
		{"br-[0-9]?", true, nullptr},
		{"a23456789012345", false, nullptr},
		{"", false, "expected 1 to 15 characters"},
		{"a234567890123456", true, "expected 1 to 15 characters"},
		{"br-*", false, "a pattern is not allowed here"},
		{"br?", false, "a pattern is not allowed here"},
		{"eth 0", true, "spaces and control characters are not allowed"},
		{"eth0:1", false, "'/', ':'"},
		{"a/b", true, "'/', ':'"},
		{"tab\there", false, "control characters"},
		{".", false, "invalid interface name '.'"},
		{"..", true, "invalid interface name or pattern '..'"},
	};
	for (const Row &row : rows) {
		INFO("name: '" << row.name << "', pattern allowed: " << row.pattern_allowed);
		if (!row.fault) {
			CHECK_NOTHROW(airgap::validate_interface_name(row.name, row.pattern_allowed));
			continue;
		}
		std::string message = error_message([&] { airgap::validate_interface_name(row.name, row.pattern_allowed); });
		CHECK_THAT(message, Catch::Contains(row.fault));
	}
}

TEST_CASE("effective_rules expands dns", "[policy]")
{
	Policy policy = airgap::parse_policy(kFullPolicy, kSource);
	std::vector<Rule> rules = policy.effective_rules();

	const std::vector<Rule> dns = {
		make_rule(RuleKind::allow_out, IPPROTO_UDP, 53, "198.51.100.53", "dns-1-udp"),
		make_rule(RuleKind::allow_out, IPPROTO_TCP, 53, "198.51.100.53", "dns-1-tcp"),
		make_rule(RuleKind::allow_out, IPPROTO_UDP, 53, "2001:db8::53", "dns-2-udp"),
		make_rule(RuleKind::allow_out, IPPROTO_TCP, 53, "2001:db8::53", "dns-2-tcp"),
	};
	REQUIRE(rules.size() == dns.size() + policy.rules.size());
	for (std::size_t i = 0; i < dns.size(); i++) {
		INFO("rule " << i << ": " << rules[i].describe());
		CHECK(rules[i] == dns[i]);
	}
	for (std::size_t i = 0; i < policy.rules.size(); i++)
		CHECK(rules[dns.size() + i] == policy.rules[i]);

	CHECK(airgap::dns_rule_name(3, IPPROTO_TCP) == "dns-3-tcp");
}

TEST_CASE("parse_policy errors name the source, the line and the fault", "[policy]")
{
	struct Row {
		const char *what;
		const char *text;
		unsigned line;
		const char *fault; // part of the expected message
	};
	const Row rows[] = {
		// Unknown keys, at every level.
		{"unknown top-level key", "filter = true\n\n[interfaces]\nuplink = \"wan0\"\n", 1,
		 "unknown key 'filter' in the top level"},
		{"unknown table", "[interfaces]\nuplink = \"wan0\"\n\n[[allow-all]]\nname = \"x\"\n", 4,
		 "unknown key 'allow-all' in the top level"},
		{"unknown key in [interfaces]", "[interfaces]\nuplink = \"wan0\"\nbrides = [\"docker0\"]\n", 3,
		 "unknown key 'brides' in [interfaces]; did you mean 'bridges'?"},
		{"misspelt table", "[interfaces]\nuplink = \"wan0\"\n\n[[allow-outt]]\nname = \"x\"\n", 4,
		 "unknown key 'allow-outt' in the top level; did you mean 'allow-out'?"},
		{"unknown key in [link]", "[link]\ndhcp = true\ndnss = [\"198.51.100.53\"]\n", 3,
		 "unknown key 'dnss' in [link]"},
		{"unknown key in a rule",
		 "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = \"203.0.113.10\"\nport = 443\nprot = \"udp\"\n", 6,
		 "unknown key 'prot' in [[allow-out]]"},
		{"from in an allow-out rule", "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nfrom = \"203.0.113.10\"\nport = 443\n",
		 4, "unknown key 'from' in [[allow-out]]"},
		{"to in a forward rule", "[[forward]]\nname = \"db\"\nproto = \"tcp\"\nport = 8443\nto = \"172.17.0.1\"\n", 5,
		 "unknown key 'to' in [[forward]]"},

		// Missing fields.
		{"missing name", "\n[[allow-out]]\nproto = \"tcp\"\nto = \"203.0.113.10\"\nport = 443\n", 2,
		 "[[allow-out]] needs a name"},
		{"missing proto", "[[allow-in]]\nname = \"ssh\"\nfrom = \"203.0.113.0/24\"\nport = 22\n", 1,
		 "allow-in rule 'ssh': 'proto' is missing"},
		{"missing tcp port", "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = \"203.0.113.10\"\n", 1,
		 "allow-out rule 'relay': 'port' is missing"},
		{"missing udp port", "[[forward]]\nname = \"metrics\"\nproto = \"udp\"\n", 1,
		 "forward rule 'metrics': 'port' is missing"},
		{"missing to", "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nport = 443\n", 1,
		 "allow-out rule 'relay': 'to' is missing"},
		{"missing from", "[[allow-in]]\nname = \"ssh\"\nproto = \"tcp\"\nport = 22\n", 1,
		 "allow-in rule 'ssh': 'from' is missing"},

		// Bad values.
		{"bad address", "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = \"203.0.113.300\"\nport = 443\n", 4,
		 "allow-out rule 'relay': invalid address '203.0.113.300'"},
		{"host bits in a prefix", "[[allow-in]]\nname = \"ssh\"\nproto = \"tcp\"\nfrom = \"203.0.113.7/24\"\nport = 22\n",
		 4, "invalid prefix '203.0.113.7/24'"},
		{"bad dns address", "[link]\ndns = [\"198.51.100.53\", \"resolver\"]\n", 2,
		 "link.dns: invalid address 'resolver'"},
		{"dns prefix", "[link]\ndns = [\"198.51.100.0/24\"]\n", 2, "a resolver is one address, not '198.51.100.0/24'"},
		{"bad protocol", "[[allow-out]]\nname = \"relay\"\nproto = \"sctp\"\nto = \"203.0.113.10\"\nport = 443\n", 3,
		 "invalid protocol 'sctp'"},
		{"port 0", "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = \"203.0.113.10\"\nport = 0\n", 5,
		 "invalid port 0"},
		{"port too large", "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = \"203.0.113.10\"\nport = 70000\n", 5,
		 "invalid port 70000"},
		{"bad port text", "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = \"203.0.113.10\"\nport = \"https\"\n", 5,
		 "invalid port 'https'"},
		{"port on icmp", "[[allow-out]]\nname = \"ping\"\nproto = \"icmp\"\nto = \"203.0.113.10\"\nport = 8\n", 1,
		 "protocol icmp has no ports"},
		{"bad name", "[[allow-out]]\nname = \"relay api\"\nproto = \"tcp\"\nto = \"203.0.113.10\"\nport = 443\n", 1,
		 "invalid rule name 'relay api'"},

		// Names and matches must be unique, DNS rules included.
		{"duplicate name",
		 "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = \"203.0.113.10\"\nport = 443\n\n"
		 "[[allow-in]]\nname = \"relay\"\nproto = \"tcp\"\nfrom = \"203.0.113.10\"\nport = 22\n",
		 7, "rule name 'relay' is used twice"},
		{"name of a dns rule", "[link]\ndns = [\"198.51.100.53\"]\n\n"
				       "[[allow-out]]\nname = \"dns-1-udp\"\nproto = \"udp\"\nto = \"198.51.100.54\"\nport = 53\n",
		 4, "rule name 'dns-1-udp' is used twice"},
		{"same match twice",
		 "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = \"203.0.113.10\"\nport = 443\n\n"
		 "[[allow-out]]\nname = \"relay-again\"\nproto = \"tcp\"\nto = \"203.0.113.10/32\"\nport = \"443\"\n",
		 7, "rule 'relay-again' matches the same packets as rule 'relay'"},
		{"same match as a dns rule", "[link]\ndns = [\"198.51.100.53\"]\n\n"
					     "[[allow-out]]\nname = \"resolver\"\nproto = \"tcp\"\nto = \"198.51.100.53\"\nport = 53\n",
		 4, "rule 'resolver' matches the same packets as rule 'dns-1-tcp'"},

		// Wrong types.
		{"interfaces not a table", "interfaces = \"wan0\"\n", 1, "'interfaces' must be a table ([interfaces])"},
		{"uplink not a string", "[interfaces]\nuplink = 3\n", 2, "interfaces.uplink must be a string"},
		{"bridges not an array", "[interfaces]\nbridges = \"docker0\"\n", 2,
		 "interfaces.bridges must be an array of strings"},
		{"dhcp not a boolean", "[link]\ndhcp = \"yes\"\n", 2, "link.dhcp must be true or false"},
		{"dns not an array", "[link]\ndns = \"198.51.100.53\"\n", 2, "link.dns must be an array of strings"},
		{"rules not an array of tables", "[allow-out]\nname = \"relay\"\n", 1,
		 "'allow-out' must be an array of tables ([[allow-out]])"},
		{"name not a string", "[[forward]]\nname = 5\nproto = \"tcp\"\nport = 8443\n", 2, "name must be a string"},

		// Interface names.
		{"uplink with a space", "[interfaces]\nuplink = \"wan 0\"\n", 2, "invalid interface name 'wan 0'"},
		{"uplink pattern", "[interfaces]\nuplink = \"br-*\"\n", 2, "a pattern is not allowed here"},
		{"bridge with a slash", "[interfaces]\nbridges = [\"docker0\", \"br/x\"]\n", 2,
		 "invalid interface name or pattern 'br/x'"},
		{"bridge name too long", "[interfaces]\nbridges = [\"a-very-long-bridge\"]\n", 2,
		 "expected 1 to 15 characters"},

		// Outside the TOML subset policy files use.
		{"two equals signs", "[link]\ndhcp = = true\n", 2, "expected a string, a number, true or false"},
		{"unterminated string", "[interfaces]\nuplink = \"wan0\n", 2, "unterminated string"},
		{"backslash in a string", "[interfaces]\nuplink = \"wan\\\\0\"\n", 2,
		 "backslashes are not allowed in policy strings"},
		{"negative port", "[[forward]]\nname = \"db\"\nproto = \"tcp\"\nport = -1\n", 4,
		 "expected a string, a number, true or false"},
		{"nested array", "[link]\ndns = [[\"198.51.100.53\"]]\n", 2, "expected a string, a number, true or false"},
		{"unclosed table header", "[interfaces\nuplink = \"wan0\"\n", 1, "expected ']' after the table name"},
		{"inline table", "[link]\n\nextra = { dhcp = true }\n", 3, "unexpected '{'"},
	};
	for (const Row &row : rows) {
		INFO(row.what << "\n--- text ---\n" << row.text << "------------");
		std::string message = error_message([&] { airgap::parse_policy(row.text, kSource); });
		std::string location = std::string(kSource) + ":" + std::to_string(row.line) + ": ";
		CHECK_THAT(message, Catch::StartsWith(location));
		CHECK_THAT(message, Catch::Contains(row.fault));
	}
}

// A field of the wrong type is named once, with the rule and the field's line,
// as in "policy.toml:4: forward rule 'db': port must be a string".
TEST_CASE("rule field of the wrong type names one location", "[policy]")
{
	struct Row {
		const char *what;
		const char *text;
		const char *fault;
	};
	const Row rows[] = {
		{"port", "[[forward]]\nname = \"db\"\nproto = \"tcp\"\nport = true\n", "port must be a string"},
		{"to", "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = 203\nport = 443\n", "to must be a string"},
		{"from", "[[allow-in]]\nname = \"ssh\"\nproto = \"tcp\"\nfrom = [\"203.0.113.0/24\"]\nport = 22\n",
		 "from must be a string"},
		{"proto", "[[allow-out]]\nname = \"relay\"\nproto = [\"tcp\"]\nto = \"203.0.113.10\"\nport = 443\n",
		 "proto must be a string"},
	};
	for (const Row &row : rows) {
		INFO(row.what << "\n--- text ---\n" << row.text << "------------");
		std::string message = error_message([&] { airgap::parse_policy(row.text, kSource); });
		CHECK_THAT(message, Catch::StartsWith(std::string(kSource) + ":"));
		CHECK_THAT(message, Catch::Contains(row.fault));
		std::size_t mentions = 0;
		for (auto pos = message.find(kSource); pos != std::string::npos; pos = message.find(kSource, pos + 1))
			mentions++;
		CHECK(mentions == 1);
	}
}

TEST_CASE("bridges item of the wrong type", "[policy]")
{
	std::string message =
		error_message([] { airgap::parse_policy("[interfaces]\nbridges = [\"docker0\", 7]\n", kSource); });
	CHECK_THAT(message, Catch::StartsWith(std::string(kSource) + ":2: "));
	CHECK_THAT(message, Catch::Contains("interfaces.bridges must be an array of strings"));
}

// The format documents proto as "tcp, udp, icmp, or a number", and a number
// may be written as a TOML integer, as port may.
TEST_CASE("proto as a TOML integer", "[policy]")
{
	Policy policy = airgap::parse_policy(
		"[[allow-out]]\nname = \"gre\"\nproto = 47\nto = \"203.0.113.10\"\n", kSource);
	REQUIRE(policy.rules.size() == 1);
	CHECK(policy.rules[0] == make_rule(RuleKind::allow_out, 47, 0, "203.0.113.10", "gre"));
}

TEST_CASE("parse_policy_file names the file", "[policy]")
{
	char path[] = "/tmp/airgap-policy-test-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	close(fd);
	{
		std::ofstream out(path);
		out << "[[allow-out]]\nname = \"relay\"\nproto = \"tcp\"\nto = \"203.0.113.10\"\n";
	}
	std::string message = error_message([&] { airgap::parse_policy_file(path); });
	std::remove(path);
	CHECK_THAT(message, Catch::StartsWith(std::string(path) + ":1: "));
	CHECK_THAT(message, Catch::Contains("'port' is missing"));

	std::string missing = std::string(path) + "-missing";
	message = error_message([&] { airgap::parse_policy_file(missing); });
	CHECK_THAT(message, Catch::Contains("cannot read policy file " + missing));
	CHECK_THAT(message, Catch::Contains("No such file or directory"));
}
