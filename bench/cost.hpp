// Per-packet cost of the filter's programs and of the references.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/xdp_filter.hpp"

namespace bench {

struct CostOptions {
	std::vector<std::uint32_t> columns{10, 1000, 10000, 100000}; // rule counts
	std::uint32_t max_rules = 131072;
	std::uint32_t max_flows = 65536;
	std::uint32_t repeat = 1000000;           // BPF_PROG_TEST_RUN repetitions per figure
	std::uint32_t repetitions = 5;            // figures per median
	std::uint32_t distinct_packets = 4000;    // runs per figure of a new-flow class
	int cpu = 1;
	std::string xdp_filter_object = kXdpFilterObject;
};

// Print one JSON line per program, packet class and rule count.
void run_cost(const CostOptions &options);

} // namespace bench
