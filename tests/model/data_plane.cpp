#include "data_plane.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>

namespace model {
namespace {

std::string errno_text(int err)
{
	return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

prog::Hook prog_hook(Hook hook)
{
	switch (hook) {
	case Hook::uplink_xdp:
		return prog::Hook::uplink_xdp;
	case Hook::uplink_egress:
		return prog::Hook::uplink_egress;
	case Hook::bridge_ingress:
		return prog::Hook::bridge_ingress;
	case Hook::bridge_egress:
		return prog::Hook::bridge_egress;
	}
	throw std::logic_error("unknown hook");
}

// The maps a program uses, by name.
std::map<std::string, airgap::UniqueFd> maps_of(int prog_fd)
{
	bpf_prog_info info{};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		throw std::runtime_error("cannot read program info: " + errno_text(errno));
	std::vector<__u32> ids(info.nr_map_ids);
	bpf_prog_info with_ids{};
	with_ids.nr_map_ids = static_cast<__u32>(ids.size());
	with_ids.map_ids = reinterpret_cast<__u64>(ids.data());
	len = sizeof(with_ids);
	if (bpf_obj_get_info_by_fd(prog_fd, &with_ids, &len))
		throw std::runtime_error("cannot read the program's map ids: " + errno_text(errno));

	std::map<std::string, airgap::UniqueFd> out;
	for (__u32 id : ids) {
		airgap::UniqueFd fd(bpf_map_get_fd_by_id(id));
		if (!fd)
			throw std::runtime_error("cannot open map id " + std::to_string(id) + ": " + errno_text(errno));
		bpf_map_info map_info{};
		__u32 map_len = sizeof(map_info);
		if (bpf_obj_get_info_by_fd(fd.get(), &map_info, &map_len))
			throw std::runtime_error("cannot read map info: " + errno_text(errno));
		out[map_info.name] = std::move(fd);
	}
	return out;
}

std::uint32_t max_entries(int fd, const char *name)
{
	bpf_map_info info{};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		throw std::runtime_error(std::string("cannot read map info of ") + name + ": " + errno_text(errno));
	return info.max_entries;
}

airgap::UniqueFd take(std::map<std::string, airgap::UniqueFd> &maps, const char *name)
{
	auto it = maps.find(name);
	if (it == maps.end())
		throw std::runtime_error(std::string("the uplink XDP program uses no map named ") + name);
	return std::move(it->second);
}

} // namespace

DataPlane::DataPlane(prog::Filter &filter) : filter_(filter), cpus_(libbpf_num_possible_cpus())
{
	if (cpus_ <= 0)
		throw std::runtime_error("cannot count the possible CPUs: " + errno_text(-cpus_));
	// The uplink XDP program uses every map the test reads.
	auto maps = maps_of(filter.program(prog::Hook::uplink_xdp));
	hook_stats_ = take(maps, AG_MAP_HOOK_STATS);
	rule_stats_ = take(maps, AG_MAP_RULE_STATS);
	rule_table_ = take(maps, AG_MAP_RULE_TABLE);
	flows_ = take(maps, AG_MAP_FLOWS);
	fragments_ = take(maps, AG_MAP_FRAGMENTS);
	host_addrs_ = take(maps, AG_MAP_HOST_ADDRS);
	max_rules_ = max_entries(rule_stats_.get(), AG_MAP_RULE_STATS);
	flow_capacity_ = max_entries(flows_.get(), AG_MAP_FLOWS);
	fragment_capacity_ = max_entries(fragments_.get(), AG_MAP_FRAGMENTS);
	host_address_capacity_ = max_entries(host_addrs_.get(), AG_MAP_HOST_ADDRS);
}

std::uint32_t DataPlane::pass_code(Hook hook)
{
	return hook == Hook::uplink_xdp ? static_cast<std::uint32_t>(XDP_PASS) : static_cast<std::uint32_t>(TC_ACT_UNSPEC);
}

std::uint32_t DataPlane::drop_code(Hook hook)
{
	return hook == Hook::uplink_xdp ? static_cast<std::uint32_t>(XDP_DROP) : static_cast<std::uint32_t>(TC_ACT_SHOT);
}

std::optional<std::uint32_t> DataPlane::run(Hook hook, Sender sender, const Bytes &frame)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	// BPF_PROG_TEST_RUN takes no XDP buffer shorter than an Ethernet header,
	// so a shorter frame goes after metadata that makes up the difference.
	// Linux 6.18 rejects that too, and the caller counts such frames apart.
	constexpr std::uint32_t kMinXdp = 14;
	Bytes data;
	xdp_md xdp{};
	__sk_buff skb{};

	if (hook == Hook::uplink_xdp) {
		std::uint32_t meta = frame.size() < kMinXdp ? 32 : 0;
		data.assign(meta, 0);
		data.insert(data.end(), frame.begin(), frame.end());
		// The uplink as the receiving device, which the FIB lookup uses.
		xdp.data = meta;
		xdp.data_end = static_cast<__u32>(data.size());
		xdp.ingress_ifindex = prog::uplink_ifindex();
		opts.ctx_in = &xdp;
		opts.ctx_size_in = sizeof(xdp);
		opts.data_in = data.data();
		opts.data_size_in = static_cast<__u32>(data.size());
	} else {
		bool on_bridge = hook == Hook::bridge_ingress || hook == Hook::bridge_egress;
		// ifindex sets skb->dev, which the bridge FIB lookup uses, and
		// ingress_ifindex marks a packet as routed rather than the host's.
		skb.ifindex = on_bridge ? prog::bridge_ifindex() : prog::uplink_ifindex();
		switch (sender) {
		case Sender::host:
			skb.ingress_ifindex = 0;
			break;
		case Sender::bridge:
			skb.ingress_ifindex = prog::bridge_ifindex();
			break;
		case Sender::uplink:
			skb.ingress_ifindex = prog::uplink_ifindex();
			break;
		}
		opts.ctx_in = &skb;
		opts.ctx_size_in = sizeof(skb);
		opts.data_in = frame.data();
		opts.data_size_in = static_cast<__u32>(frame.size());
	}

	if (bpf_prog_test_run_opts(filter_.program(prog_hook(hook)), &opts) != 0) {
		if (errno == EINVAL)
			return std::nullopt;
		throw std::runtime_error(std::string("BPF_PROG_TEST_RUN of ") + hook_name(hook) +
					 " failed: " + errno_text(errno));
	}
	return opts.retval;
}

std::vector<ag_counter> DataPlane::read_percpu_array(int fd, std::uint32_t entries) const
{
	std::vector<__u32> keys(entries);
	std::vector<ag_counter> values(static_cast<std::size_t>(entries) * cpus_);
	std::vector<ag_counter> out(entries);
	__u32 batch = 0;
	__u32 done = 0;
	bool first = true;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	while (done < entries) {
		__u32 count = entries - done;
		int err = bpf_map_lookup_batch(fd, first ? nullptr : &batch, &batch, keys.data() + done,
					       values.data() + static_cast<std::size_t>(done) * cpus_, &count, &opts);
		first = false;
		if (err && errno != ENOENT)
			throw std::runtime_error("cannot read a per-CPU counter map: " + errno_text(errno));
		done += count;
		if (err)
			break;
	}
	for (std::uint32_t i = 0; i < done; i++) {
		for (int cpu = 0; cpu < cpus_; cpu++) {
			const ag_counter &c = values[static_cast<std::size_t>(i) * cpus_ + cpu];
			out[keys[i]].packets += c.packets;
			out[keys[i]].bytes += c.bytes;
		}
	}
	return out;
}

std::vector<ag_counter> DataPlane::hook_counters() const
{
	return read_percpu_array(hook_stats_.get(), AG_HOOK_STATS_LEN);
}

std::vector<ag_counter> DataPlane::rule_counters() const
{
	return read_percpu_array(rule_stats_.get(), max_rules_);
}

ag_counter DataPlane::read_percpu(int fd, std::uint32_t index, const char *name) const
{
	std::vector<ag_counter> values(cpus_);
	if (bpf_map_lookup_elem(fd, &index, values.data()))
		throw std::runtime_error("cannot read entry " + std::to_string(index) + " of " + name + ": " +
					 errno_text(errno));
	ag_counter sum{};
	for (const ag_counter &c : values) {
		sum.packets += c.packets;
		sum.bytes += c.bytes;
	}
	return sum;
}

ag_counter DataPlane::hook_counter(int slot) const
{
	return read_percpu(hook_stats_.get(), static_cast<std::uint32_t>(slot), AG_MAP_HOOK_STATS);
}

ag_counter DataPlane::rule_counter(std::uint32_t id) const
{
	return read_percpu(rule_stats_.get(), id, AG_MAP_RULE_STATS);
}

template <typename Key, typename Value>
std::vector<std::pair<Key, Value>> DataPlane::dump_hash(int fd) const
{
	constexpr __u32 kChunk = 4096;
	std::vector<std::pair<Key, Value>> out;
	std::vector<Key> keys(kChunk);
	std::vector<Value> values(kChunk);
	__u32 batch = 0;
	bool first = true;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);

	for (;;) {
		__u32 count = kChunk;
		int err = bpf_map_lookup_batch(fd, first ? nullptr : &batch, &batch, keys.data(), values.data(), &count,
					       &opts);
		first = false;
		if (err && errno != ENOENT)
			throw std::runtime_error("cannot dump a hash map: " + errno_text(errno));
		for (__u32 i = 0; i < count; i++)
			out.emplace_back(keys[i], values[i]);
		if (err)
			break;
	}
	return out;
}

template <typename Key, typename Value>
void DataPlane::update_hash(int fd, const std::vector<std::pair<Key, Value>> &entries)
{
	std::vector<Key> keys;
	std::vector<Value> values;
	for (auto &[key, value] : entries) {
		keys.push_back(key);
		values.push_back(value);
	}
	__u32 count = static_cast<__u32>(keys.size());
	if (count == 0)
		return;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	if (bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts))
		throw std::runtime_error("cannot update a hash map: " + errno_text(errno));
}

std::vector<std::pair<ag_flow_key, ag_flow>> DataPlane::flows() const
{
	return dump_hash<ag_flow_key, ag_flow>(flows_.get());
}

void DataPlane::write_flows(const std::vector<std::pair<ag_flow_key, ag_flow>> &flows)
{
	update_hash(flows_.get(), flows);
}

void DataPlane::delete_flow(const ag_flow_key &key)
{
	if (bpf_map_delete_elem(flows_.get(), &key) && errno != ENOENT)
		throw std::runtime_error("cannot delete a flow: " + errno_text(errno));
}

std::vector<std::pair<ag_fragment_key, ag_fragment>> DataPlane::fragments() const
{
	return dump_hash<ag_fragment_key, ag_fragment>(fragments_.get());
}

std::vector<Address> DataPlane::host_addresses() const
{
	std::vector<Address> out;
	for (auto &[key, seen] : dump_hash<ag_host_addr, __u8>(host_addrs_.get())) {
		Address address;
		std::memcpy(address.data(), key.addr, address.size());
		out.push_back(address);
	}
	return out;
}

void DataPlane::write_fragments(const std::vector<std::pair<ag_fragment_key, ag_fragment>> &fragments)
{
	update_hash(fragments_.get(), fragments);
}

void DataPlane::delete_host_address(const Address &address)
{
	ag_host_addr key{};
	std::memcpy(key.addr, address.data(), sizeof(key.addr));
	if (bpf_map_delete_elem(host_addrs_.get(), &key) && errno != ENOENT)
		throw std::runtime_error("cannot delete a host address: " + errno_text(errno));
}

void DataPlane::delete_fragment(const ag_fragment_key &key)
{
	if (bpf_map_delete_elem(fragments_.get(), &key) && errno != ENOENT)
		throw std::runtime_error("cannot delete a fragment entry: " + errno_text(errno));
}

std::uint32_t DataPlane::rule_generation(std::uint32_t id) const
{
	// The host's own flows into a bridge belong to no rule; the programs
	// record them with generation 0.
	if (id == AG_RULE_ID_HOST)
		return 0;
	ag_rule_info info{};
	if (bpf_map_lookup_elem(rule_table_.get(), &id, &info))
		throw std::runtime_error("cannot read slot " + std::to_string(id) + " of " AG_MAP_RULE_TABLE ": " +
					 errno_text(errno));
	return info.gen;
}

} // namespace model
