#include "loader/resolve.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "loader/error.hpp"
#include "loader/log.hpp"

namespace airgap {
namespace {

struct AddrinfoFree {
	void operator()(addrinfo *list) const { freeaddrinfo(list); }
};

} // namespace

std::vector<Prefix> resolve_host(const std::string &host)
{
	addrinfo hints{};
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	addrinfo *raw = nullptr;
	int rc = getaddrinfo(host.c_str(), nullptr, &hints, &raw);
	std::unique_ptr<addrinfo, AddrinfoFree> list(raw);
	if (rc != 0)
		fail("cannot resolve host name '{}': {}{}", host, rc == EAI_SYSTEM ? errno_text(errno) : gai_strerror(rc),
		     host.find_first_not_of("0123456789.:/abcdefABCDEF") == std::string::npos
			     ? " (it is no IP address, so it was looked up as a host name)"
			     : "");

	std::vector<Prefix> out;
	for (addrinfo *it = list.get(); it; it = it->ai_next) {
		Prefix address;
		if (it->ai_family == AF_INET) {
			auto *v4 = reinterpret_cast<sockaddr_in *>(it->ai_addr);
			address.addr[10] = 0xff;
			address.addr[11] = 0xff;
			std::memcpy(&address.addr[12], &v4->sin_addr, 4);
		} else if (it->ai_family == AF_INET6) {
			auto *v6 = reinterpret_cast<sockaddr_in6 *>(it->ai_addr);
			std::memcpy(address.addr.data(), &v6->sin6_addr, 16);
		} else {
			continue;
		}
		address.len = 128;
		if (std::find(out.begin(), out.end(), address) == out.end())
			out.push_back(address);
	}
	if (out.empty())
		fail("cannot resolve host name '{}': no IPv4 or IPv6 address", host);
	std::sort(out.begin(), out.end());
	return out;
}

ResolvedRule resolve_rule(const Rule &rule)
{
	if (rule.host.empty())
		return {rule, {rule.peer}};
	try {
		return {rule, resolve_host(rule.host)};
	} catch (const Error &e) {
		fail("rule '{}': {}", rule.name, e.what());
	}
}

std::vector<ResolvedRule> resolve_rules_or_warn(const std::vector<Rule> &rules)
{
	std::vector<ResolvedRule> out;
	out.reserve(rules.size());
	for (auto &rule : rules) {
		try {
			out.push_back(resolve_rule(rule));
		} catch (const Error &e) {
			log::warn("{}; the rule admits nothing until 'airgap-bpf refresh' resolves it", e.what());
			out.push_back({rule, {}});
		}
	}
	return out;
}

std::vector<ResolvedRule> resolve_rules(const std::vector<Rule> &rules)
{
	std::vector<ResolvedRule> out;
	out.reserve(rules.size());
	for (auto &rule : rules)
		out.push_back(resolve_rule(rule));
	return out;
}

} // namespace airgap
