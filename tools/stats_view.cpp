#include "tools/stats_view.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>

#include "loader/counter_names.hpp"
#include "loader/error.hpp"

namespace airgap {

// "tcp to 203.0.113.10 port 443": an allow-out rule names where the host
// connects to. Allow-in and forward rules name where connections come from,
// and their port is the host's.
std::string rule_match_text(const Rule &rule)
{
	const char *direction = rule.kind == RuleKind::allow_out ? "to" : "from";
	std::string peer = fmt::format("{} {} {}", protocol_name(rule.proto), direction, rule.peer_text());
	if (!protocol_has_ports(rule.proto))
		return peer;
	if (rule.port == 0)
		return peer + " port any";
	return fmt::format("{} port {}", peer, rule.port);
}

StatsSnapshot read_stats(const FilterMaps &maps)
{
	return StatsSnapshot{maps.rule_counters(), maps.hook_counters()};
}

namespace {

struct Rate {
	double packets;
	double bytes;
};

Rate rate_of(const ag_counter &now, const ag_counter *before, double seconds)
{
	if (!before || seconds <= 0 || now.packets < before->packets)
		return {0, 0};
	return {(now.packets - before->packets) / seconds, (now.bytes - before->bytes) / seconds};
}

const ag_counter *earlier_rule(const StatsSnapshot *before, const RuleCounters &row)
{
	if (!before)
		return nullptr;
	for (auto &old : before->rules) {
		if (old.rule.id == row.rule.id && old.rule.rule == row.rule.rule)
			return &old.counter;
	}
	return nullptr;
}

std::string counter_columns(const ag_counter &c, const ag_counter *before, bool rates, double seconds)
{
	std::string out = fmt::format(" {:>12} {:>14}", c.packets, c.bytes);
	if (rates) {
		Rate r = rate_of(c, before, seconds);
		out += fmt::format(" {:>10.1f} {:>12.1f}", r.packets, r.bytes);
	}
	return out;
}

} // namespace

std::string stats_text(const StatsSnapshot &now, bool all_reasons, const StatsSnapshot *before, double seconds)
{
	bool rates = before != nullptr;
	std::string rate_header = rates ? fmt::format(" {:>10} {:>12}", "PKT/S", "BYTES/S") : "";
	std::string out = fmt::format("{:<4} {:<24} {:<10} {:<41} {:>12} {:>14}{}\n", "ID", "RULE", "KIND", "MATCH",
				      "PACKETS", "BYTES", rate_header);
	for (auto &row : now.rules) {
		out += fmt::format("{:<4} {:<24} {:<10} {:<41}", row.rule.id, row.rule.rule.name,
				   rule_kind_name(row.rule.rule.kind), rule_match_text(row.rule.rule));
		out += counter_columns(row.counter, earlier_rule(before, row), rates, seconds) + "\n";
	}

	out += fmt::format("\n{:<16} {:<8} {:<16} {:>12} {:>14}{}\n", "HOOK", "VERDICT", "REASON", "PACKETS", "BYTES",
			   rate_header);
	auto row = [&](unsigned hook, const char *verdict, const std::string &reason, unsigned slot) {
		const ag_counter &c = now.hooks[slot];
		if (!c.packets && !all_reasons)
			return;
		out += fmt::format("{:<16} {:<8} {:<16}", hook_name(hook), verdict, reason);
		out += counter_columns(c, before ? &before->hooks[slot] : nullptr, rates, seconds) + "\n";
	};
	for (unsigned hook = 0; hook < AG_HOOK_COUNT; hook++) {
		for (unsigned reason = 0; reason < AG_PASS_REASON_COUNT; reason++)
			row(hook, "pass", pass_reason_name(reason), AG_PASS_SLOT(hook, reason));
		for (unsigned reason = 1; reason < AG_DROP_REASON_COUNT; reason++)
			row(hook, "drop", drop_reason_name(reason), AG_DROP_SLOT(hook, reason));
	}
	return out;
}

nlohmann::json stats_json(const StatsSnapshot &now)
{
	nlohmann::json out;
	out["rules"] = nlohmann::json::array();
	for (auto &row : now.rules) {
		const Rule &rule = row.rule.rule;
		out["rules"].push_back({
			{"id", row.rule.id},
			{"name", rule.name},
			{"kind", rule_kind_name(rule.kind)},
			{"proto", protocol_name(rule.proto)},
			{"address", rule.peer_text()},
			{"port", rule.port},
			{"packets", row.counter.packets},
			{"bytes", row.counter.bytes},
		});
	}
	out["hooks"] = nlohmann::json::object();
	for (unsigned hook = 0; hook < AG_HOOK_COUNT; hook++) {
		nlohmann::json pass = nlohmann::json::object();
		nlohmann::json drop = nlohmann::json::object();
		for (unsigned reason = 0; reason < AG_PASS_REASON_COUNT; reason++) {
			auto &c = now.hooks[AG_PASS_SLOT(hook, reason)];
			pass[pass_reason_name(reason)] = {{"packets", c.packets}, {"bytes", c.bytes}};
		}
		for (unsigned reason = 1; reason < AG_DROP_REASON_COUNT; reason++) {
			auto &c = now.hooks[AG_DROP_SLOT(hook, reason)];
			drop[drop_reason_name(reason)] = {{"packets", c.packets}, {"bytes", c.bytes}};
		}
		out["hooks"][hook_name(hook)] = {{"pass", pass}, {"drop", drop}};
	}
	return out;
}

std::string stats_prometheus(const StatsSnapshot &now)
{
	std::string out;
	auto family = [&](const char *name, const char *help) {
		out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
	};
	auto rule_labels = [](const RuleCounters &row) {
		return fmt::format("id=\"{}\",name=\"{}\",kind=\"{}\"", row.rule.id, row.rule.rule.name,
				   rule_kind_name(row.rule.rule.kind));
	};

	family("airgap_rule_packets_total", "Packets a rule admitted.");
	for (auto &row : now.rules)
		out += fmt::format("airgap_rule_packets_total{{{}}} {}\n", rule_labels(row), row.counter.packets);
	family("airgap_rule_bytes_total", "Bytes a rule admitted.");
	for (auto &row : now.rules)
		out += fmt::format("airgap_rule_bytes_total{{{}}} {}\n", rule_labels(row), row.counter.bytes);

	for (const char *unit : {"packets", "bytes"}) {
		bool packets = std::string_view(unit) == "packets";
		std::string name = fmt::format("airgap_hook_{}_total", unit);
		family(name.c_str(), packets ? "Packets a hook passed or dropped, by reason."
					     : "Bytes a hook passed or dropped, by reason.");
		auto line = [&](unsigned hook, const char *verdict, const std::string &reason, unsigned slot) {
			const ag_counter &c = now.hooks[slot];
			out += fmt::format("{}{{hook=\"{}\",verdict=\"{}\",reason=\"{}\"}} {}\n", name, hook_name(hook),
					   verdict, reason, packets ? c.packets : c.bytes);
		};
		for (unsigned hook = 0; hook < AG_HOOK_COUNT; hook++) {
			for (unsigned reason = 0; reason < AG_PASS_REASON_COUNT; reason++)
				line(hook, "pass", pass_reason_name(reason), AG_PASS_SLOT(hook, reason));
			for (unsigned reason = 1; reason < AG_DROP_REASON_COUNT; reason++)
				line(hook, "drop", drop_reason_name(reason), AG_DROP_SLOT(hook, reason));
		}
	}
	return out;
}

std::string status_text(const FilterStatus &status, const std::string &pin_dir)
{
	std::string out = fmt::format("airgap-bpf is loaded (pins under {})\n", pin_dir);
	std::vector<std::string> addresses;
	for (auto &address : status.host_addresses)
		addresses.push_back(address.to_string());
	auto list = [](const std::vector<std::string> &items) {
		return items.empty() ? std::string("none") : fmt::format("{}", fmt::join(items, ", "));
	};
	out += fmt::format("rules: {} of {}\ntracked flows: {}\ndhcp: {}\nbridge names: {}\nhost addresses: {}\n\n",
			   status.rules, status.max_rules, status.flows,
			   (status.settings.flags & AG_SETTING_DHCP) ? "allowed" : "blocked", list(status.bridge_names),
			   list(addresses));
	for (auto &iface : status.interfaces) {
		const char *role = iface.recorded.role == AG_ROLE_UPLINK ? "uplink" : "bridge";
		out += fmt::format("{} {} (index {})", role, iface.recorded.name, iface.recorded.ifindex);
		if (!iface.present) {
			out += ": interface is gone\n";
			continue;
		}
		out += "\n";
		for (auto &hook : iface.hooks) {
			std::string state = hook.program.empty()
						    ? "MISSING"
						    : fmt::format("{} (id {})", hook.program, hook.program_id);
			out += fmt::format("  {:<11} {}", hook.hook, state);
			if (hook.hook == "xdp" && iface.recorded.xdp_mode == AG_XDP_NATIVE)
				out += ", native mode";
			else if (hook.hook == "xdp" && iface.recorded.xdp_mode == AG_XDP_GENERIC &&
				 iface.recorded.native_xdp_errno == 0)
				out += ", generic mode, as requested";
			else if (hook.hook == "xdp" && iface.recorded.xdp_mode == AG_XDP_GENERIC)
				out += fmt::format(", generic mode (native failed: {})",
						   errno_text(iface.recorded.native_xdp_errno));
			out += "\n";
		}
	}
	return out;
}

} // namespace airgap
