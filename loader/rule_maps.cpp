#include "loader/rule_maps.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <unordered_map>

#include "loader/error.hpp"

namespace airgap {
namespace {

UniqueFd open_pin(const std::string &pin_dir, const char *name)
{
	std::string path = pin_dir + "/" + name;
	int fd = bpf_obj_get(path.c_str());
	if (fd < 0)
		fail("cannot open pinned map {}: {}; is the filter loaded?", path, errno_text(errno));
	return UniqueFd(fd);
}

// A map pinned by another airgap-bpf version may have another layout, and
// reading it with this version's structs would overrun them.
void check_layout(int fd, const char *name, bpf_map_type type, std::uint32_t key_size, std::uint32_t value_size)
{
	bpf_map_info info{};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		fail("cannot read the info of map {}: {}", name, errno_text(errno));
	if (info.type != type || info.key_size != key_size || info.value_size != value_size)
		fail("map {} has another layout (type {}, key {} bytes, value {} bytes) than this airgap-bpf "
		     "expects (type {}, key {}, value {}); it was pinned by another version: unload with that "
		     "version, or remove the pin directory",
		     name, info.type, info.key_size, info.value_size, static_cast<unsigned>(type), key_size,
		     value_size);
}

// rule_table() reads the map through a memory mapping.
void check_mmapable(int fd, const char *name)
{
	bpf_map_info info{};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		fail("cannot read the info of map {}: {}", name, errno_text(errno));
	if (!(info.map_flags & BPF_F_MMAPABLE))
		fail("map {} was created without BPF_F_MMAPABLE, by another version of airgap-bpf: unload with "
		     "that version, or remove the pin directory",
		     name);
}

UniqueFd dup_fd(int fd, const char *name)
{
	int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0)
		fail("cannot duplicate the fd of map {}: {}", name, errno_text(errno));
	return UniqueFd(copy);
}

int possible_cpus()
{
	int n = libbpf_num_possible_cpus();
	if (n <= 0)
		fail("cannot read the number of possible CPUs: {}", errno_text(n));
	return n;
}

} // namespace

FilterMaps FilterMaps::open_pinned(const std::string &pin_dir)
{
	FilterMaps maps;
	maps.rules_ = open_pin(pin_dir, AG_MAP_RULES);
	maps.rule_table_ = open_pin(pin_dir, AG_MAP_RULE_TABLE);
	maps.rule_stats_ = open_pin(pin_dir, AG_MAP_RULE_STATS);
	maps.hook_stats_ = open_pin(pin_dir, AG_MAP_HOOK_STATS);
	maps.flows_ = open_pin(pin_dir, AG_MAP_FLOWS);
	maps.settings_ = open_pin(pin_dir, AG_MAP_SETTINGS);
	maps.interfaces_ = open_pin(pin_dir, AG_MAP_INTERFACES);
	maps.bridge_names_ = open_pin(pin_dir, AG_MAP_BRIDGE_NAMES);
	maps.host_addrs_ = open_pin(pin_dir, AG_MAP_HOST_ADDRS);
	maps.check_layouts();
	maps.read_max_rules();
	return maps;
}

FilterMaps FilterMaps::from_fds(const Fds &fds)
{
	FilterMaps maps;
	maps.rules_ = dup_fd(fds.rules, AG_MAP_RULES);
	maps.rule_table_ = dup_fd(fds.rule_table, AG_MAP_RULE_TABLE);
	maps.rule_stats_ = dup_fd(fds.rule_stats, AG_MAP_RULE_STATS);
	maps.hook_stats_ = dup_fd(fds.hook_stats, AG_MAP_HOOK_STATS);
	maps.flows_ = dup_fd(fds.flows, AG_MAP_FLOWS);
	maps.settings_ = dup_fd(fds.settings, AG_MAP_SETTINGS);
	maps.interfaces_ = dup_fd(fds.interfaces, AG_MAP_INTERFACES);
	maps.bridge_names_ = dup_fd(fds.bridge_names, AG_MAP_BRIDGE_NAMES);
	maps.host_addrs_ = dup_fd(fds.host_addrs, AG_MAP_HOST_ADDRS);
	maps.read_max_rules();
	return maps;
}

void FilterMaps::check_layouts() const
{
	check_layout(rules_.get(), AG_MAP_RULES, BPF_MAP_TYPE_ARRAY_OF_MAPS, sizeof(__u32), sizeof(__u32));
	check_layout(rule_table_.get(), AG_MAP_RULE_TABLE, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(ag_rule_info));
	check_mmapable(rule_table_.get(), AG_MAP_RULE_TABLE);
	check_layout(rule_stats_.get(), AG_MAP_RULE_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(ag_counter));
	check_layout(hook_stats_.get(), AG_MAP_HOOK_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(ag_counter));
	check_layout(flows_.get(), AG_MAP_FLOWS, BPF_MAP_TYPE_LRU_HASH, sizeof(ag_flow_key), sizeof(ag_flow));
	check_layout(settings_.get(), AG_MAP_SETTINGS, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(ag_settings));
	check_layout(interfaces_.get(), AG_MAP_INTERFACES, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(ag_interface));
	check_layout(bridge_names_.get(), AG_MAP_BRIDGE_NAMES, BPF_MAP_TYPE_ARRAY, sizeof(__u32),
		     sizeof(ag_bridge_name));
	check_layout(host_addrs_.get(), AG_MAP_HOST_ADDRS, BPF_MAP_TYPE_LRU_HASH, sizeof(ag_host_addr), sizeof(__u8));
}

void FilterMaps::read_max_rules()
{
	bpf_map_info info{};
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(rule_table_.get(), &info, &len);
	if (err)
		fail("cannot read the info of map {}: {}", AG_MAP_RULE_TABLE, errno_text(errno));
	max_rules_ = info.max_entries;
}

std::vector<ag_rule_info> FilterMaps::rule_table() const
{
	// The kernel lays out array values at a stride of their size rounded up
	// to 8 bytes, from the start of the mapping.
	constexpr std::size_t kStride = (sizeof(ag_rule_info) + 7) & ~std::size_t{7};
	const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
	const std::size_t length = (kStride * max_rules_ + page - 1) / page * page;

	void *mapped = mmap(nullptr, length, PROT_READ, MAP_SHARED, rule_table_.get(), 0);
	if (mapped == MAP_FAILED)
		fail("cannot map {} into memory: {}", AG_MAP_RULE_TABLE, errno_text(errno));
	std::vector<ag_rule_info> table(max_rules_);
	const auto *bytes = static_cast<const std::uint8_t *>(mapped);
	for (std::uint32_t id = 0; id < max_rules_; id++)
		std::memcpy(&table[id], bytes + kStride * id, sizeof(ag_rule_info));
	munmap(mapped, length);
	return table;
}

std::vector<LiveRule> FilterMaps::rules() const
{
	std::vector<LiveRule> live;
	auto table = rule_table();
	for (std::uint32_t id = 0; id < table.size(); id++) {
		if (table[id].kind != 0)
			live.push_back({id, Rule::from_map_info(table[id])});
	}
	return live;
}

std::optional<LiveRule> FilterMaps::find_rule(std::string_view name) const
{
	for (auto &live : rules()) {
		if (live.rule.name == name)
			return live;
	}
	return std::nullopt;
}

void FilterMaps::write_info(std::uint32_t id, const ag_rule_info &info)
{
	if (bpf_map_update_elem(rule_table_.get(), &id, &info, BPF_ANY))
		fail("cannot write slot {} of map {}: {}", id, AG_MAP_RULE_TABLE, errno_text(errno));
}

void FilterMaps::zero_rule_counter(std::uint32_t id)
{
	std::vector<ag_counter> zeros(possible_cpus());
	if (bpf_map_update_elem(rule_stats_.get(), &id, zeros.data(), BPF_ANY))
		fail("cannot reset counter {} of map {}: {}", id, AG_MAP_RULE_STATS, errno_text(errno));
}

UniqueFd FilterMaps::live_trie() const
{
	std::uint32_t zero = 0;
	std::uint32_t trie_id = 0;
	if (bpf_map_lookup_elem(rules_.get(), &zero, &trie_id))
		fail("cannot read slot 0 of map {}: {}", AG_MAP_RULES, errno_text(errno));
	UniqueFd trie(bpf_map_get_fd_by_id(trie_id));
	if (!trie)
		fail("cannot open the rule trie (map id {}) of map {}: {}", trie_id, AG_MAP_RULES,
		     errno_text(errno));
	return trie;
}

UniqueFd FilterMaps::create_trie() const
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	std::uint32_t entries = max_rules_ * kTrieEntriesPerRule;
	UniqueFd trie(bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "ag_rule_trie", sizeof(ag_rule_key),
				     sizeof(ag_rule_ref), entries, &opts));
	if (!trie)
		fail("cannot create a rule trie of {} entries: {}", entries, errno_text(errno));
	return trie;
}

void FilterMaps::free_slot(std::uint32_t id, std::uint32_t gen)
{
	// A new generation cuts the flows the slot's rule admitted at their next packet.
	ag_rule_info freed{};
	freed.gen = gen + 1;
	write_info(id, freed);
}

void FilterMaps::check_rule_set(const std::vector<Rule> &rules) const
{
	// Indexed by name and by match, so that a policy of 100,000 rules takes
	// no quadratic number of comparisons.
	std::unordered_map<std::string, std::size_t> by_name;
	std::unordered_map<std::string, std::size_t> by_match;
	for (std::size_t i = 0; i < rules.size(); i++) {
		rules[i].validate();
		if (!by_name.emplace(rules[i].name, i).second)
			fail("rule name '{}' is used twice", rules[i].name);
		auto [other, inserted] = by_match.emplace(rules[i].match_key(), i);
		if (!inserted)
			fail("rules '{}' and '{}' match the same packets", rules[other->second].name, rules[i].name);
	}
	if (rules.size() > max_rules_)
		fail("{} rules do not fit the rule table of {} (map {})", rules.size(), max_rules_,
		     AG_MAP_RULE_TABLE);
}

namespace {

// A rule's identity in the table: a rule is kept only when its name and
// its match both stay.
std::string rule_identity(const Rule &rule)
{
	return rule.name + '\n' + rule.match_key();
}

std::unordered_map<std::string, std::uint32_t> live_rules_by_identity(const std::vector<ag_rule_info> &table)
{
	std::unordered_map<std::string, std::uint32_t> live;
	for (std::uint32_t id = 0; id < table.size(); id++) {
		if (table[id].kind != 0)
			live.emplace(rule_identity(Rule::from_map_info(table[id])), id);
	}
	return live;
}

} // namespace

RuleChanges FilterMaps::plan_rules(const std::vector<Rule> &rules) const
{
	check_rule_set(rules);
	auto table = rule_table();
	auto live = live_rules_by_identity(table);
	std::vector<bool> kept(table.size(), false);
	RuleChanges changes;
	for (auto &rule : rules) {
		auto same = live.find(rule_identity(rule));
		if (same == live.end())
			changes.added.push_back(rule);
		else
			kept[same->second] = true;
	}
	for (std::uint32_t id = 0; id < table.size(); id++) {
		if (table[id].kind != 0 && !kept[id])
			changes.removed.push_back(Rule::from_map_info(table[id]));
	}
	return changes;
}

RuleChanges FilterMaps::replace_rules(const std::vector<ResolvedRule> &resolved)
{
	std::vector<Rule> rules;
	for (auto &r : resolved)
		rules.push_back(r.rule);
	check_rule_set(rules);

	auto table = rule_table();
	auto live = live_rules_by_identity(table);
	std::vector<bool> kept(table.size(), false);
	std::vector<ag_rule_ref> refs(rules.size());
	std::vector<std::uint32_t> added;
	std::uint32_t next_free = 0;

	try {
		for (std::size_t i = 0; i < rules.size(); i++) {
			auto same = live.find(rule_identity(rules[i]));
			if (same != live.end()) {
				std::uint32_t id = same->second;
				kept[id] = true;
				refs[i] = {id, table[id].gen};
				continue;
			}
			while (next_free < table.size() && table[next_free].kind != 0)
				next_free++;
			if (next_free == table.size())
				fail("no free slot for rule '{}': the rule table holds {} rules (map {})",
				     rules[i].name, max_rules_, AG_MAP_RULE_TABLE);
			std::uint32_t id = next_free++;
			std::uint32_t gen = table[id].gen + 1;
			zero_rule_counter(id);
			write_info(id, rules[i].map_info(gen));
			added.push_back(id);
			refs[i] = {id, gen};
		}

		UniqueFd trie = create_trie();
		for (std::size_t i = 0; i < rules.size(); i++) {
			for (auto &address : resolved[i].addresses) {
				ag_rule_key key = rules[i].map_key(address);
				if (bpf_map_update_elem(trie.get(), &key, &refs[i], BPF_NOEXIST) == 0)
					continue;
				if (errno == EEXIST)
					fail("cannot apply {}: another rule already matches {}", rules[i].describe(),
					     address.to_string());
				fail("cannot add {} to a new rule trie: {}", rules[i].describe(), errno_text(errno));
			}
		}
		std::uint32_t zero = 0;
		int trie_fd = trie.get();
		if (bpf_map_update_elem(rules_.get(), &zero, &trie_fd, BPF_ANY))
			fail("cannot switch map {} to the new rule trie: {}", AG_MAP_RULES, errno_text(errno));
	} catch (const Error &) {
		for (auto id : added)
			free_slot(id, table[id].gen + 1);
		throw;
	}

	RuleChanges changes;
	for (auto id : added)
		changes.added.push_back(Rule::from_map_info(rule_info(id)));
	for (std::uint32_t id = 0; id < table.size(); id++) {
		if (table[id].kind != 0 && !kept[id]) {
			changes.removed.push_back(Rule::from_map_info(table[id]));
			free_slot(id, table[id].gen);
		}
	}
	return changes;
}

ag_rule_info FilterMaps::rule_info(std::uint32_t id) const
{
	ag_rule_info info{};
	if (bpf_map_lookup_elem(rule_table_.get(), &id, &info))
		fail("cannot read slot {} of map {}: {}", id, AG_MAP_RULE_TABLE, errno_text(errno));
	return info;
}

std::uint32_t FilterMaps::add_rule(const ResolvedRule &resolved)
{
	const Rule &rule = resolved.rule;
	rule.validate();

	auto table = rule_table();
	std::optional<std::uint32_t> free_id;
	for (std::uint32_t id = 0; id < table.size(); id++) {
		if (table[id].kind == 0) {
			if (!free_id)
				free_id = id;
			continue;
		}
		Rule existing = Rule::from_map_info(table[id]);
		if (existing.name == rule.name)
			fail("cannot add {}: a rule named '{}' exists ({})", rule.describe(), rule.name,
			     existing.describe());
		if (existing.same_match(rule))
			fail("cannot add {}: rule '{}' matches the same packets", rule.describe(),
			     existing.name);
	}
	if (!free_id)
		fail("cannot add {}: the rule table is full ({} rules, map {})", rule.describe(), max_rules_,
		     AG_MAP_RULE_TABLE);

	std::uint32_t id = *free_id;
	std::uint32_t gen = table[id].gen + 1;
	zero_rule_counter(id);
	// The slot is live before the trie points at it, so that a flow recorded
	// by the first matching packet already sees its generation.
	write_info(id, rule.map_info(gen));

	ag_rule_ref ref{id, gen};
	UniqueFd trie = live_trie();
	std::vector<ag_rule_key> inserted;
	for (auto &address : resolved.addresses) {
		ag_rule_key key = rule.map_key(address);
		if (bpf_map_update_elem(trie.get(), &key, &ref, BPF_NOEXIST) == 0) {
			inserted.push_back(key);
			continue;
		}
		int err = errno;
		for (auto &done : inserted)
			bpf_map_delete_elem(trie.get(), &done);
		free_slot(id, gen);
		if (err == ENOSPC || err == E2BIG)
			fail("cannot add {}: the rule trie is full ({} entries)", rule.describe(),
			     max_rules_ * kTrieEntriesPerRule);
		if (err == EEXIST)
			fail("cannot add {}: another rule already matches {}", rule.describe(), address.to_string());
		fail("cannot add {} to the rule trie: {}", rule.describe(), errno_text(err));
	}
	return id;
}

std::vector<std::pair<ag_rule_key, ag_rule_ref>> FilterMaps::trie_entries(int trie) const
{
	std::vector<std::pair<ag_rule_key, ag_rule_ref>> out;
	ag_rule_key key{};
	ag_rule_key next{};
	const void *prev = nullptr;
	while (bpf_map_get_next_key(trie, prev, &next) == 0) {
		ag_rule_ref ref{};
		if (bpf_map_lookup_elem(trie, &next, &ref) == 0)
			out.emplace_back(next, ref);
		key = next;
		prev = &key;
	}
	if (errno != ENOENT)
		fail("cannot walk the rule trie: {}", errno_text(errno));
	return out;
}

std::map<std::uint32_t, std::vector<Prefix>> FilterMaps::rule_addresses() const
{
	std::map<std::uint32_t, std::vector<Prefix>> out;
	UniqueFd trie = live_trie();
	for (auto &[key, ref] : trie_entries(trie.get())) {
		Prefix address;
		std::memcpy(address.addr.data(), key.addr, sizeof(key.addr));
		address.len = static_cast<std::uint8_t>(key.prefixlen - AG_RULE_KEY_FIXED_BITS);
		out[ref.id].push_back(address);
	}
	for (auto &[id, addresses] : out)
		std::sort(addresses.begin(), addresses.end());
	return out;
}

void FilterMaps::delete_rule(const LiveRule &live)
{
	UniqueFd trie = live_trie();
	if (live.rule.host.empty()) {
		// A rule of one address or prefix has one trie entry, found by its key.
		ag_rule_key key = live.rule.map_key(live.rule.peer);
		ag_rule_ref ref{};
		if (bpf_map_lookup_elem(trie.get(), &key, &ref) == 0 && ref.id == live.id &&
		    bpf_map_delete_elem(trie.get(), &key) && errno != ENOENT)
			fail("cannot delete {} from the rule trie: {}", live.rule.describe(), errno_text(errno));
	} else {
		// A host name's addresses may have changed since they were added.
		for (auto &[key, ref] : trie_entries(trie.get())) {
			if (ref.id == live.id && bpf_map_delete_elem(trie.get(), &key) && errno != ENOENT)
				fail("cannot delete {} from the rule trie: {}", live.rule.describe(),
				     errno_text(errno));
		}
	}

	ag_rule_info info{};
	if (bpf_map_lookup_elem(rule_table_.get(), &live.id, &info))
		fail("cannot read slot {} of map {}: {}", live.id, AG_MAP_RULE_TABLE, errno_text(errno));
	free_slot(live.id, info.gen);
}

ag_counter FilterMaps::sum_percpu(int fd, std::uint32_t index, const char *map_name) const
{
	std::vector<ag_counter> values(possible_cpus());
	if (bpf_map_lookup_elem(fd, &index, values.data()))
		fail("cannot read entry {} of map {}: {}", index, map_name, errno_text(errno));
	ag_counter sum{};
	for (auto &v : values) {
		sum.packets += v.packets;
		sum.bytes += v.bytes;
	}
	return sum;
}

std::vector<RuleCounters> FilterMaps::rule_counters() const
{
	std::vector<RuleCounters> out;
	for (auto &live : rules())
		out.push_back({live, sum_percpu(rule_stats_.get(), live.id, AG_MAP_RULE_STATS)});
	return out;
}

HookCounters FilterMaps::hook_counters() const
{
	HookCounters out{};
	for (std::uint32_t i = 0; i < out.size(); i++)
		out[i] = sum_percpu(hook_stats_.get(), i, AG_MAP_HOOK_STATS);
	return out;
}

std::size_t FilterMaps::flow_count() const
{
	ag_flow_key key{};
	ag_flow_key next{};
	std::size_t count = 0;
	const void *prev = nullptr;
	while (bpf_map_get_next_key(flows_.get(), prev, &next) == 0) {
		count++;
		key = next;
		prev = &key;
	}
	if (errno != ENOENT)
		fail("cannot walk map {}: {}", AG_MAP_FLOWS, errno_text(errno));
	return count;
}

ag_settings FilterMaps::settings() const
{
	std::uint32_t zero = 0;
	ag_settings settings{};
	if (bpf_map_lookup_elem(settings_.get(), &zero, &settings))
		fail("cannot read map {}: {}", AG_MAP_SETTINGS, errno_text(errno));
	return settings;
}

void FilterMaps::set_settings(const ag_settings &settings)
{
	std::uint32_t zero = 0;
	if (bpf_map_update_elem(settings_.get(), &zero, &settings, BPF_ANY))
		fail("cannot write map {}: {}", AG_MAP_SETTINGS, errno_text(errno));
}

std::vector<ag_interface> FilterMaps::interfaces() const
{
	std::vector<ag_interface> out;
	for (std::uint32_t i = 0; i < AG_MAX_INTERFACES; i++) {
		ag_interface iface{};
		if (bpf_map_lookup_elem(interfaces_.get(), &i, &iface))
			fail("cannot read entry {} of map {}: {}", i, AG_MAP_INTERFACES, errno_text(errno));
		if (iface.ifindex != 0)
			out.push_back(iface);
	}
	return out;
}

void FilterMaps::set_interfaces(const std::vector<ag_interface> &interfaces)
{
	if (interfaces.size() > AG_MAX_INTERFACES)
		fail("cannot record {} interfaces: map {} holds {}", interfaces.size(), AG_MAP_INTERFACES,
		     AG_MAX_INTERFACES);
	for (std::uint32_t i = 0; i < AG_MAX_INTERFACES; i++) {
		ag_interface iface = i < interfaces.size() ? interfaces[i] : ag_interface{};
		if (bpf_map_update_elem(interfaces_.get(), &i, &iface, BPF_ANY))
			fail("cannot write entry {} of map {}: {}", i, AG_MAP_INTERFACES, errno_text(errno));
	}
}

std::vector<std::string> FilterMaps::bridge_names() const
{
	std::vector<std::string> out;
	for (std::uint32_t i = 0; i < AG_MAX_BRIDGE_NAMES; i++) {
		ag_bridge_name entry{};
		if (bpf_map_lookup_elem(bridge_names_.get(), &i, &entry))
			fail("cannot read entry {} of map {}: {}", i, AG_MAP_BRIDGE_NAMES, errno_text(errno));
		std::string name(entry.name, strnlen(entry.name, sizeof(entry.name)));
		if (!name.empty())
			out.push_back(name);
	}
	return out;
}

void FilterMaps::set_bridge_names(const std::vector<std::string> &names)
{
	if (names.size() > AG_MAX_BRIDGE_NAMES)
		fail("too many bridge names: {} (at most {})", names.size(), AG_MAX_BRIDGE_NAMES);
	for (auto &name : names) {
		if (name.empty() || name.size() >= AG_IFNAME_LEN)
			fail("invalid bridge name '{}': 1 to {} characters", name, AG_IFNAME_LEN - 1);
	}
	for (std::uint32_t i = 0; i < AG_MAX_BRIDGE_NAMES; i++) {
		ag_bridge_name entry{};
		if (i < names.size())
			std::memcpy(entry.name, names[i].data(), names[i].size());
		if (bpf_map_update_elem(bridge_names_.get(), &i, &entry, BPF_ANY))
			fail("cannot write entry {} of map {}: {}", i, AG_MAP_BRIDGE_NAMES, errno_text(errno));
	}
}

std::size_t FilterMaps::add_host_addresses(const std::vector<Prefix> &addresses)
{
	std::size_t added = 0;
	for (auto &address : addresses) {
		ag_host_addr key{};
		std::memcpy(key.addr, address.addr.data(), sizeof(key.addr));
		__u8 seen = 1;
		if (bpf_map_update_elem(host_addrs_.get(), &key, &seen, BPF_NOEXIST) == 0)
			added++;
		else if (errno != EEXIST)
			fail("cannot add {} to map {}: {}", address.to_string(), AG_MAP_HOST_ADDRS, errno_text(errno));
	}
	return added;
}

std::vector<Prefix> FilterMaps::host_addresses() const
{
	std::vector<Prefix> out;
	ag_host_addr key{};
	ag_host_addr next{};
	const void *prev = nullptr;
	while (bpf_map_get_next_key(host_addrs_.get(), prev, &next) == 0) {
		Prefix address;
		std::memcpy(address.addr.data(), next.addr, sizeof(next.addr));
		address.len = 128;
		out.push_back(address);
		key = next;
		prev = &key;
	}
	if (errno != ENOENT)
		fail("cannot walk map {}: {}", AG_MAP_HOST_ADDRS, errno_text(errno));
	return out;
}

} // namespace airgap
