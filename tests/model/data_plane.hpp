// The loaded BPF programs as the differential test drives them: one packet
// through BPF_PROG_TEST_RUN, and batched reads and writes of the counter,
// flow and fragment maps. The maps are found through the programs' map ids,
// so the test needs nothing of the loader beyond prog::Filter.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "generator.hpp"
#include "harness.hpp"
#include "loader/unique_fd.hpp"
#include "maps/airgap_maps.h"

namespace model {

class DataPlane {
public:
	explicit DataPlane(prog::Filter &filter);

	// The program's return code, or nullopt when BPF_PROG_TEST_RUN rejects
	// the input (EINVAL), as it does for frames too short for their
	// EtherType. Throws std::runtime_error on any other failure.
	std::optional<std::uint32_t> run(Hook hook, Sender sender, const Bytes &frame);
	static std::uint32_t pass_code(Hook hook);
	static std::uint32_t drop_code(Hook hook);

	// Counters summed over CPUs.
	std::vector<ag_counter> hook_counters() const;
	ag_counter hook_counter(int slot) const;
	ag_counter rule_counter(std::uint32_t id) const;
	std::vector<ag_counter> rule_counters() const;

	std::vector<std::pair<ag_flow_key, ag_flow>> flows() const;
	void write_flows(const std::vector<std::pair<ag_flow_key, ag_flow>> &flows);
	void delete_flow(const ag_flow_key &key);
	std::vector<std::pair<ag_fragment_key, ag_fragment>> fragments() const;
	std::vector<Address> host_addresses() const;
	void delete_host_address(const Address &address);
	void write_fragments(const std::vector<std::pair<ag_fragment_key, ag_fragment>> &fragments);
	void delete_fragment(const ag_fragment_key &key);
	// The generation of a rule slot in ag_rule_table.
	std::uint32_t rule_generation(std::uint32_t id) const;
	std::uint32_t flow_capacity() const { return flow_capacity_; }
	std::uint32_t fragment_capacity() const { return fragment_capacity_; }
	std::uint32_t host_address_capacity() const { return host_address_capacity_; }

private:
	std::vector<ag_counter> read_percpu_array(int fd, std::uint32_t entries) const;
	ag_counter read_percpu(int fd, std::uint32_t index, const char *name) const;
	template <typename Key, typename Value>
	std::vector<std::pair<Key, Value>> dump_hash(int fd) const;
	template <typename Key, typename Value>
	void update_hash(int fd, const std::vector<std::pair<Key, Value>> &entries);

	prog::Filter &filter_;
	airgap::UniqueFd hook_stats_, rule_stats_, rule_table_, flows_, fragments_, host_addrs_;
	std::uint32_t max_rules_ = 0;
	std::uint32_t flow_capacity_ = 0;
	std::uint32_t fragment_capacity_ = 0;
	std::uint32_t host_address_capacity_ = 0;
	int cpus_ = 0;
};

} // namespace model
