// libFuzzer harness for the command line's address, port, protocol and rule
// name parsers. Each either accepts or throws airgap::Error; an accepted
// prefix must print as text that parses back to the same prefix.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "loader/address.hpp"
#include "loader/error.hpp"
#include "loader/rule.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	std::string text(reinterpret_cast<const char *>(data), size);

	try {
		airgap::Prefix prefix = airgap::Prefix::parse(text);
		std::string printed = prefix.to_string();
		if (airgap::Prefix::parse(printed) != prefix) {
			std::fprintf(stderr, "'%s' printed as '%s', which parses to another prefix\n", text.c_str(),
				     printed.c_str());
			std::abort();
		}
	} catch (const airgap::Error &) {
	}
	try {
		std::uint16_t port = airgap::parse_port(text);
		if (airgap::parse_port(port ? std::to_string(port) : "any") != port)
			std::abort();
	} catch (const airgap::Error &) {
	}
	try {
		std::uint8_t proto = airgap::parse_protocol(text);
		if (airgap::parse_protocol(airgap::protocol_name(proto)) != proto)
			std::abort();
	} catch (const airgap::Error &) {
	}
	try {
		airgap::validate_rule_name(text);
	} catch (const airgap::Error &) {
	}
	return 0;
}
