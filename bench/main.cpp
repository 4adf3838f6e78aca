// airgap-bench: the measurements behind bench/run.sh, one subcommand each.
// Every subcommand prints JSON lines for bench/report.py.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "bench/control.hpp"
#include "bench/cost.hpp"
#include "bench/packets.hpp"
#include "bench/traffic.hpp"
#include "loader/error.hpp"
#include "loader/log.hpp"

int main(int argc, char **argv)
{
	using namespace bench;

	CLI::App app{"airgap-bench: per-packet, throughput and control-plane measurements for bench/run.sh"};
	app.require_subcommand(1);
	airgap::log::set_level(airgap::log::Level::warn);
	airgap::log::route_libbpf();

	CostOptions cost;
	auto *cost_cmd = app.add_subcommand("cost", "Per-packet cost through BPF_PROG_TEST_RUN; needs interfaces wan0 and docker0");
	cost_cmd->add_option("--columns", cost.columns, "Rule counts to measure at, ascending");
	cost_cmd->add_option("--repeat", cost.repeat, "Repetitions per BPF_PROG_TEST_RUN call");
	cost_cmd->add_option("--repetitions", cost.repetitions, "Calls per figure");
	cost_cmd->add_option("--distinct-packets", cost.distinct_packets, "Runs per figure of a new-flow class");
	cost_cmd->add_option("--max-flows", cost.max_flows, "Size of the flow table");
	cost_cmd->add_option("--cpu", cost.cpu, "CPU to run on");
	cost_cmd->add_option("--xdp-filter-object", cost.xdp_filter_object, "xdp-filter's BPF object");
	cost_cmd->callback([&] { run_cost(cost); });

	SendOptions send;
	std::string src_mac, dst_mac, src, dst;
	auto *send_cmd = app.add_subcommand("send", "Transmit one frame repeatedly out of an interface (live-frame mode)");
	send_cmd->add_option("--ifname", send.ifname, "Sending interface")->required();
	send_cmd->add_option("--src-mac", src_mac)->required();
	send_cmd->add_option("--dst-mac", dst_mac)->required();
	send_cmd->add_option("--src", src)->required();
	send_cmd->add_option("--dst", dst)->required();
	send_cmd->add_option("--sport", send.frame.sport)->required();
	send_cmd->add_option("--dport", send.frame.dport)->required();
	send_cmd->add_option("--seconds", send.seconds, "Length of the run, in seconds");
	send_cmd->add_option("--batch", send.batch, "Frames per live-frame batch (1..256)");
	send_cmd->add_option("--cpu", send.cpu, "CPU to send from");
	send_cmd->callback([&] {
		send.frame.src_mac = parse_mac(src_mac);
		send.frame.dst_mac = parse_mac(dst_mac);
		send.frame.saddr = parse_ipv4(src);
		send.frame.daddr = parse_ipv4(dst);
		send.frame.proto = 17;
		send_frames(send);
	});

	std::string attach_if, attach_which, xdp_filter_object = kXdpFilterObject;
	std::uint32_t allow_in_sources = 0;
	auto *attach_cmd = app.add_subcommand("attach", "Attach a reference XDP program in native mode");
	attach_cmd->add_option("--ifname", attach_if)->required();
	attach_cmd->add_option("--prog", attach_which, "drop, pass or xdp-filter")->required();
	attach_cmd->add_option("--allow-in", allow_in_sources, "xdp-filter: allowed source addresses besides the relay");
	attach_cmd->add_option("--xdp-filter-object", xdp_filter_object, "xdp-filter's BPF object");
	attach_cmd->callback([&] { attach_reference(attach_if, attach_which, allow_in_sources, xdp_filter_object); });

	std::uint16_t local_port = 0, port = 0;
	std::string to;
	auto *dgram_cmd = app.add_subcommand("datagram", "Send one UDP datagram from a fixed local port");
	dgram_cmd->add_option("--local-port", local_port)->required();
	dgram_cmd->add_option("--to", to)->required();
	dgram_cmd->add_option("--port", port)->required();
	dgram_cmd->callback([&] { send_datagram(local_port, to, port); });

	std::uint32_t interval_us = 20;
	double seconds = 1;
	auto *blast_cmd = app.add_subcommand("blast", "Send UDP datagrams at a fixed interval");
	blast_cmd->add_option("--to", to)->required();
	blast_cmd->add_option("--port", port)->required();
	blast_cmd->add_option("--interval-us", interval_us, "Microseconds between datagrams");
	blast_cmd->add_option("--seconds", seconds, "Length of the run, in seconds");
	blast_cmd->callback([&] { blast(to, port, interval_us, seconds); });

	std::vector<std::string> command;
	double timeout = 5;
	auto *first_cmd = app.add_subcommand("first-packet", "Time from a command's start to the first datagram on a port");
	first_cmd->add_option("--port", port)->required();
	first_cmd->add_option("--timeout", timeout, "Seconds to wait for the datagram");
	first_cmd->add_option("command", command, "Command and arguments, after --")->required();
	first_cmd->callback([&] { first_packet(port, command, timeout); });

	ControlOptions control;
	auto *control_cmd = app.add_subcommand("control", "Program load and rule edits through the loader library");
	control_cmd->add_option("--rules", control.rules, "Rules in the filter while edits are timed");
	control_cmd->add_option("--library-edits", control.library_edits, "add_rule and delete_rule calls timed");
	control_cmd->add_option("--map-edits", control.map_edits, "Bare trie updates timed");
	control_cmd->callback([&] { run_control(control); });

	std::string pin_dir;
	std::uint32_t fill_rules = 0;
	auto *fill_cmd = app.add_subcommand("fill-pinned", "Write the benchmark's rule set into a pinned, empty filter");
	fill_cmd->add_option("--pin-dir", pin_dir)->required();
	fill_cmd->add_option("--rules", fill_rules)->required();
	fill_cmd->callback([&] { fill_pinned(pin_dir, fill_rules); });

	std::string label;
	std::uint32_t count = 1;
	auto *time_cmd = app.add_subcommand("time", "Time each of count runs of a command; {i} in it is the run number");
	time_cmd->add_option("--label", label)->required();
	time_cmd->add_option("--count", count);
	time_cmd->add_option("command", command, "Command and arguments, after --")->required();
	time_cmd->callback([&] { time_commands(label, count, command); });

	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		return app.exit(e);
	} catch (const airgap::Error &e) {
		std::fprintf(stderr, "error: %s\n", e.what());
		return 1;
	}
	return 0;
}
