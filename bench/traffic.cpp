#include "bench/traffic.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <memory>
#include <thread>

#include "bench/bench.hpp"
#include "bench/spawn.hpp"
#include "bench/xdp_filter.hpp"
#include "bench_bpf.skel.h"
#include "loader/error.hpp"
#include "loader/unique_fd.hpp"

extern char **environ;

namespace bench {
namespace {

struct DestroySkel {
	void operator()(bench_bpf *skel) const { bench_bpf__destroy(skel); }
};

std::unique_ptr<bench_bpf, DestroySkel> load_refs()
{
	std::unique_ptr<bench_bpf, DestroySkel> skel(bench_bpf__open_and_load());
	if (!skel)
		airgap::fail("cannot load the reference programs: {}", airgap::errno_text(errno));
	return skel;
}

std::uint32_t ifindex_of(const std::string &name)
{
	std::uint32_t index = if_nametoindex(name.c_str());
	if (!index)
		airgap::fail("interface {} not found: {}", name, airgap::errno_text(errno));
	return index;
}

sockaddr_in socket_address(const std::string &addr, std::uint16_t port)
{
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = parse_ipv4(addr);
	return sa;
}

airgap::UniqueFd udp_socket()
{
	airgap::UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (!fd)
		airgap::fail("cannot create a UDP socket: {}", airgap::errno_text(errno));
	return fd;
}

} // namespace

void send_frames(const SendOptions &options)
{
	pin_to_cpu(options.cpu);
	auto skel = load_refs();
	std::vector<std::uint8_t> frame = build_frame(options.frame);

	xdp_md ctx{};
	ctx.data_end = static_cast<std::uint32_t>(frame.size());
	ctx.ingress_ifindex = ifindex_of(options.ifname);
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	opts.data_in = frame.data();
	opts.data_size_in = static_cast<std::uint32_t>(frame.size());
	opts.ctx_in = &ctx;
	opts.ctx_size_in = sizeof(ctx);
	opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
	opts.batch_size = options.batch;
	// Frames per call: tens of milliseconds at XDP rates, but seconds at the
	// slowest netfilter rates, so a run may overshoot its length. Rates are
	// computed from the measured time, not the requested one.
	opts.repeat = 1 << 14;

	int fd = bpf_program__fd(skel->progs.bench_xdp_tx);
	std::uint64_t sent = 0;
	double start = now_seconds();
	double elapsed = 0;
	while (elapsed < options.seconds) {
		if (bpf_prog_test_run_opts(fd, &opts))
			airgap::fail("live-frame BPF_PROG_TEST_RUN on {} failed: {}", options.ifname,
				     airgap::errno_text(errno));
		sent += opts.repeat;
		elapsed = now_seconds() - start;
	}
	emit(fmt::format(R"({{"sent":{},"seconds":{:.6f}}})", sent, elapsed));
}

void attach_reference(const std::string &ifname, const std::string &which, std::uint32_t allow_in_sources,
		      const std::string &xdp_filter_object)
{
	std::uint32_t ifindex = ifindex_of(ifname);
	int prog_fd = -1;
	std::unique_ptr<bench_bpf, DestroySkel> refs;
	std::unique_ptr<XdpFilter> filter;
	if (which == "drop" || which == "pass") {
		refs = load_refs();
		prog_fd = bpf_program__fd(which == "drop" ? refs->progs.bench_xdp_drop : refs->progs.bench_xdp_pass);
	} else if (which == "xdp-filter") {
		filter = std::make_unique<XdpFilter>(XdpFilter::load(xdp_filter_object, allow_in_sources));
		filter->allow_source(ntohl(parse_ipv4(kRelay)));
		filter->allow_sources(0, allow_in_sources);
		prog_fd = filter->prog_fd();
	} else {
		airgap::fail("unknown reference program '{}': expected drop, pass or xdp-filter", which);
	}
	// A netlink attachment, unlike a link, outlives this process; the
	// benchmark removes it with 'ip link set dev IF xdp off'.
	if (int err = bpf_xdp_attach(static_cast<int>(ifindex), prog_fd, XDP_FLAGS_DRV_MODE, nullptr))
		airgap::fail("cannot attach {} to {} in native XDP mode: {}", which, ifname, airgap::errno_text(err));
}

void send_datagram(std::uint16_t local_port, const std::string &to, std::uint16_t port)
{
	airgap::UniqueFd fd = udp_socket();
	sockaddr_in local{};
	local.sin_family = AF_INET;
	local.sin_port = htons(local_port);
	if (bind(fd.get(), reinterpret_cast<sockaddr *>(&local), sizeof(local)))
		airgap::fail("cannot bind UDP port {}: {}", local_port, airgap::errno_text(errno));
	sockaddr_in remote = socket_address(to, port);
	const char payload[] = "open";
	if (sendto(fd.get(), payload, sizeof(payload), 0, reinterpret_cast<sockaddr *>(&remote), sizeof(remote)) < 0)
		airgap::fail("cannot send to {}:{}: {}", to, port, airgap::errno_text(errno));
}

void blast(const std::string &to, std::uint16_t port, std::uint32_t interval_us, double seconds)
{
	airgap::UniqueFd fd = udp_socket();
	sockaddr_in remote = socket_address(to, port);
	const char payload[] = "edit";
	double start = now_seconds();
	double next = start;
	std::uint64_t sent = 0;
	while (now_seconds() - start < seconds) {
		while (now_seconds() < next) {
		}
		next += interval_us * 1e-6;
		// A failed send is only left out of the count: what reaches the host
		// is what the benchmark measures.
		if (sendto(fd.get(), payload, sizeof(payload), 0, reinterpret_cast<sockaddr *>(&remote),
			   sizeof(remote)) >= 0)
			sent++;
	}
	emit(fmt::format(R"({{"blasted":{}}})", sent));
}

void first_packet(std::uint16_t port, const std::vector<std::string> &command, double timeout_seconds)
{
	airgap::UniqueFd fd = udp_socket();
	sockaddr_in local{};
	local.sin_family = AF_INET;
	local.sin_port = htons(port);
	if (bind(fd.get(), reinterpret_cast<sockaddr *>(&local), sizeof(local)))
		airgap::fail("cannot bind UDP port {}: {}", port, airgap::errno_text(errno));

	// Let datagrams that would pass before the edit show up first.
	pollfd pfd{fd.get(), POLLIN, 0};
	if (poll(&pfd, 1, 50) > 0)
		airgap::fail("datagrams reach port {} before the edit: the policy under test admits them already", port);

	std::vector<char *> argv;
	for (auto &arg : command)
		argv.push_back(const_cast<char *>(arg.c_str()));
	argv.push_back(nullptr);

	double start = now_seconds();
	pid_t pid = 0;
	SpawnQuiet quiet;
	if (int err = posix_spawnp(&pid, argv[0], quiet.actions(), nullptr, argv.data(), environ))
		airgap::fail("cannot run {}: {}", command[0], airgap::errno_text(err));

	// Both waits block, so that neither takes CPU time from the command.
	double first = NAN;
	std::thread receiver([&] {
		if (poll(&pfd, 1, static_cast<int>(timeout_seconds * 1000)) > 0)
			first = now_seconds();
	});
	int status = 0;
	waitpid(pid, &status, 0);
	double exited = now_seconds();
	receiver.join();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		airgap::fail("{} failed with status {}", command[0], status);
	if (std::isnan(first))
		airgap::fail("no datagram reached port {} within {} s of running {}", port, timeout_seconds, command[0]);
	emit(fmt::format(R"({{"first_ms":{:.3f},"exit_ms":{:.3f}}})", (first - start) * 1e3, (exited - start) * 1e3));
}

} // namespace bench
