// airgap-bpf stats: per-rule and per-hook counters, once or as a live view.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include "loader/error.hpp"
#include "loader/rule_maps.hpp"
#include "tools/cli.hpp"
#include "tools/stats_view.hpp"

namespace airgap {
namespace {

struct StatsOptions {
	std::string format = "text";
	bool json = false;
	bool all = false;
	double watch_seconds = 0;
};

void print_once(const FilterMaps &maps, const StatsOptions &options)
{
	StatsSnapshot now = read_stats(maps);
	if (options.format == "json")
		std::cout << stats_json(now).dump(2) << "\n";
	else if (options.format == "prometheus")
		std::cout << stats_prometheus(now);
	else
		std::cout << stats_text(now, options.all);
}

// Redraw the text table every interval with the rates since the last one,
// until interrupted.
[[noreturn]] void watch(const FilterMaps &maps, const StatsOptions &options)
{
	using clock = std::chrono::steady_clock;
	bool terminal = isatty(STDOUT_FILENO);
	StatsSnapshot before = read_stats(maps);
	auto before_time = clock::now();
	for (;;) {
		std::this_thread::sleep_for(std::chrono::duration<double>(options.watch_seconds));
		StatsSnapshot now = read_stats(maps);
		auto now_time = clock::now();
		double seconds = std::chrono::duration<double>(now_time - before_time).count();
		if (terminal)
			std::cout << "\033[H\033[2J";
		std::cout << stats_text(now, options.all, &before, seconds) << std::endl;
		before = std::move(now);
		before_time = now_time;
	}
}

} // namespace

void add_stats_command(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("stats", "Show what each rule admitted and why each hook dropped");
	auto options = std::make_shared<StatsOptions>();
	cmd->add_option("--format", options->format, "Output format: text, json or prometheus")
		->check(CLI::IsMember({"text", "json", "prometheus"}));
	cmd->add_flag("--json", options->json, "Same as --format json");
	cmd->add_flag("--all", options->all, "Also list reasons whose counters are zero (text format)");
	cmd->add_option("--watch", options->watch_seconds,
			"Redraw the text table every SECONDS, with packet and byte rates")
		->check(CLI::Range(0.1, 3600.0));
	cmd->callback([options, &global] {
		if (options->json)
			options->format = "json";
		FilterMaps maps = FilterMaps::open_pinned(global.pin_dir);
		if (options->watch_seconds > 0) {
			if (options->format != "text")
				fail("--watch shows the text table; it does not combine with --format {}", options->format);
			watch(maps, *options);
		}
		print_once(maps, *options);
	});
}

} // namespace airgap
