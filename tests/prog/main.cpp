// Entry point of the BPF_PROG_TEST_RUN table tests. Before any test runs,
// the process moves into a network namespace of its own, so that the FIB
// lookups and interfaces the tests create never touch the machine's network.
// The namespace has no name and goes away with the process.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>

#include "harness.hpp"
#include "loader/log.hpp"

namespace {

// ctest treats this exit code as "skipped" (SKIP_RETURN_CODE).
constexpr int kExitSkipped = 77;

} // namespace

int main(int argc, char **argv)
{
	Catch::Session session;
	int rc = session.applyCommandLine(argc, argv);
	if (rc != 0)
		return rc;

	const Catch::ConfigData &config = session.configData();
	bool listing_only = config.showHelp || config.listTests || config.listTestNamesOnly || config.listTags ||
			    config.listReporters;
	if (!listing_only) {
		// libbpf's messages, the verifier log included, only with
		// AIRGAP_PROG_TEST_DEBUG=1, so that a failed load can be studied.
		airgap::log::route_libbpf();
		const char *debug = std::getenv("AIRGAP_PROG_TEST_DEBUG");
		if (debug && *debug == '1')
			airgap::log::set_level(airgap::log::Level::debug);

		try {
			prog::enter_test_netns();
		} catch (const prog::SkipRun &e) {
			std::cerr << "skipped: " << e.what() << "\n";
			return kExitSkipped;
		} catch (const std::exception &e) {
			std::cerr << "error: cannot set up the test network namespace: " << e.what() << "\n";
			return EXIT_FAILURE;
		}
	}
	return session.run();
}
