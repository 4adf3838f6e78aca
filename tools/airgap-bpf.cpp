// airgap-bpf: load, edit and inspect the air-gap filter.
#include <cstdlib>

#include <CLI/CLI.hpp>

#include "loader/error.hpp"
#include "loader/log.hpp"
#include "maps/airgap_maps.h"
#include "tools/cli.hpp"

int main(int argc, char **argv)
{
	using namespace airgap;

	CLI::App app{"airgap-bpf: an XDP and TC filter that air-gaps a docker host"};
	app.require_subcommand(1);
	GlobalOptions global;
	global.pin_dir = AG_PIN_DIR;
	if (const char *env = std::getenv("AIRGAP_BPF_PIN_DIR"))
		global.pin_dir = env;
	app.add_flag("-v,--verbose", global.verbose, "Show debug messages, libbpf's and the verifier's included");
	app.add_option("--pin-dir", global.pin_dir, "bpffs directory of the pinned filter (env AIRGAP_BPF_PIN_DIR)");
	app.parse_complete_callback([&global] {
		log::set_level(global.verbose ? log::Level::debug : log::Level::info);
		log::route_libbpf();
	});

	add_filter_commands(app, global);
	add_rule_commands(app, global);
	add_stats_command(app, global);

	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		return app.exit(e);
	} catch (const Error &e) {
		log::error("{}", e.what());
		return 1;
	}
	return 0;
}
