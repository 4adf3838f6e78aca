// Debian's xdp-filter (package xdp-tools) as a reference: its BPF object,
// loaded with libbpf and configured for the benchmark's policy.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <string>

namespace bench {

// Where Debian 12's libxdp1 installs the object of `xdp-filter load
// --policy deny` with every feature: drop unless a rule matches.
inline constexpr const char *kXdpFilterObject = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_dny_all.o";

class XdpFilter {
public:
	// Load the object unpinned, sized for allowed_sources addresses.
	static XdpFilter load(const std::string &object_path, std::uint32_t allowed_sources);

	// Allow packets from the relay and from allow_in_address(0..count-1):
	// xdp-filter matches an address or a port, never both, so these source
	// addresses are the nearest it comes to the allow-in rules.
	void allow_sources(std::uint32_t from, std::uint32_t to);
	void allow_source(std::uint32_t addr_host_order);

	int prog_fd() const;

private:
	struct Close {
		void operator()(bpf_object *obj) const { bpf_object__close(obj); }
	};
	explicit XdpFilter(std::unique_ptr<bpf_object, Close> obj);
	std::unique_ptr<bpf_object, Close> obj_;
	int ipv4_fd_ = -1;
};

} // namespace bench
