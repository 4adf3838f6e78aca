// airgap-bpf rule, forward, save and restore: live edits of the pinned filter.
#include <cstdio>
#include <fstream>
#include <memory>

#include <fmt/ranges.h>

#include "loader/bpffs.hpp"
#include "loader/error.hpp"
#include "loader/filter.hpp"
#include "loader/policy.hpp"
#include "loader/policy_writer.hpp"
#include "loader/resolve.hpp"
#include "loader/rule_maps.hpp"
#include "tools/cli.hpp"
#include "tools/stats_view.hpp"

namespace airgap {
namespace {

// The text fields of a rule as the command line gives them.
struct RuleArgs {
	std::string direction; // "out" or "in"; empty for forwards
	std::string proto;
	std::string address = "any";
	std::string port = "any";
	std::string name;
};

Rule rule_from_args(RuleKind kind, const RuleArgs &args)
{
	Rule rule;
	rule.kind = kind;
	rule.proto = parse_protocol(args.proto);
	rule.port = parse_port(args.port);
	parse_peer(args.address, rule);
	rule.name = args.name;
	rule.validate();
	return rule;
}

// Run an edit with the pin directory locked, so that concurrent edits queue.
template <typename Edit>
void edit_filter(const GlobalOptions &global, Edit &&edit)
{
	PinLock lock(global.pin_dir, false);
	FilterMaps maps = FilterMaps::open_pinned(global.pin_dir);
	edit(maps);
}

void print_rules(const FilterMaps &maps, std::initializer_list<RuleKind> kinds)
{
	auto addresses = maps.rule_addresses();
	std::printf("%-4s %-24s %-10s %s\n", "ID", "NAME", "KIND", "MATCH");
	for (auto &live : maps.rules()) {
		if (std::find(kinds.begin(), kinds.end(), live.rule.kind) == kinds.end())
			continue;
		std::string match = rule_match_text(live.rule);
		if (!live.rule.host.empty()) {
			std::vector<std::string> texts;
			for (auto &address : addresses[live.id])
				texts.push_back(address.to_string());
			match += texts.empty() ? std::string(" (unresolved)") : fmt::format(" ({})", fmt::join(texts, ", "));
		}
		std::printf("%-4u %-24s %-10s %s\n", live.id, live.rule.name.c_str(),
			    std::string(rule_kind_name(live.rule.kind)).c_str(), match.c_str());
	}
}

void delete_by_name(FilterMaps &maps, const std::string &name, std::initializer_list<RuleKind> kinds,
		    const char *list_command)
{
	auto live = maps.find_rule(name);
	if (live && std::find(kinds.begin(), kinds.end(), live->rule.kind) == kinds.end())
		fail("'{}' is a{} {} rule; delete it with 'airgap-bpf {} del {}'", name,
		     live->rule.kind == RuleKind::forward ? "" : "n", rule_kind_name(live->rule.kind),
		     live->rule.kind == RuleKind::forward ? "forward" : "rule", name);
	if (!live)
		fail("no {} named '{}'; '{}' shows them", kinds.size() == 1 ? "forward" : "rule", name, list_command);
	maps.delete_rule(*live);
	std::printf("deleted rule %u: %s\n", live->id, live->rule.describe().c_str());
}

void add_rule_group(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("rule", "Allowed endpoints: what the host may open, and who may open the host");
	cmd->require_subcommand(1);

	auto *add = cmd->add_subcommand("add", "Allow a flow, at once");
	auto args = std::make_shared<RuleArgs>();
	add->add_option("direction", args->direction, "out: the host opens flows to ADDR; in: ADDR opens flows to the host")
		->required()
		->check(CLI::IsMember({"out", "in"}));
	add->add_option("proto", args->proto, "tcp, udp, icmp, icmpv6, or an IP protocol number")->required();
	add->add_option("address", args->address,
			"Remote address or prefix (ADDR[/LEN]), 'any', or a host name resolved now and by 'refresh'")
		->required();
	auto *port = add->add_option("port", args->port,
				     "Remote port for out, host port for in, or 'any'; required for tcp and udp");
	add->add_option("--name", args->name, "Rule name, shown by stats")->required();
	add->callback([args, port, &global] {
		if (port->count() == 0 && (args->proto == "tcp" || args->proto == "udp"))
			fail("a {} rule needs a port: give a number, or 'any' explicitly", args->proto);
		RuleKind kind = args->direction == "out" ? RuleKind::allow_out : RuleKind::allow_in;
		Rule rule = rule_from_args(kind, *args);
		ResolvedRule resolved = resolve_rule(rule);
		edit_filter(global, [&](FilterMaps &maps) {
			std::uint32_t id = maps.add_rule(resolved);
			std::printf("added rule %u: %s\n", id, rule.describe().c_str());
		});
	});

	auto *del = cmd->add_subcommand("del", "Remove an allow-out or allow-in rule; the flows it admitted stop");
	auto del_name = std::make_shared<std::string>();
	del->add_option("name", *del_name, "Rule name")->required();
	del->callback([del_name, &global] {
		edit_filter(global, [&](FilterMaps &maps) {
			delete_by_name(maps, *del_name, {RuleKind::allow_out, RuleKind::allow_in}, "airgap-bpf rule list");
		});
	});

	auto *list = cmd->add_subcommand("list", "List the allow-out and allow-in rules");
	list->callback([&global] {
		print_rules(FilterMaps::open_pinned(global.pin_dir), {RuleKind::allow_out, RuleKind::allow_in});
	});
}

void add_forward_group(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("forward", "Forwarded services: which containers reach which host port");
	cmd->require_subcommand(1);

	auto *add = cmd->add_subcommand("add", "Let containers reach a host port, at once");
	auto args = std::make_shared<RuleArgs>();
	add->add_option("proto", args->proto, "tcp, udp, or an IP protocol number")->required();
	add->add_option("port", args->port, "Host port the forwarder listens on, or 'any'")->required();
	add->add_option("--from", args->address, "Container address or prefix (ADDR[/LEN]); default: any container");
	add->add_option("--name", args->name, "Rule name, shown by stats")->required();
	add->callback([args, &global] {
		Rule rule = rule_from_args(RuleKind::forward, *args);
		ResolvedRule resolved = resolve_rule(rule);
		edit_filter(global, [&](FilterMaps &maps) {
			std::uint32_t id = maps.add_rule(resolved);
			std::printf("added rule %u: %s\n", id, rule.describe().c_str());
		});
	});

	auto *del = cmd->add_subcommand("del", "Remove a forward; its open connections stop at their next packet");
	auto del_name = std::make_shared<std::string>();
	del->add_option("name", *del_name, "Rule name")->required();
	del->callback([del_name, &global] {
		edit_filter(global, [&](FilterMaps &maps) {
			delete_by_name(maps, *del_name, {RuleKind::forward}, "airgap-bpf forward list");
		});
	});

	auto *list = cmd->add_subcommand("list", "List the forwards");
	list->callback([&global] { print_rules(FilterMaps::open_pinned(global.pin_dir), {RuleKind::forward}); });
}

void add_save_restore(CLI::App &app, GlobalOptions &global)
{
	auto *save = app.add_subcommand("save", "Write the live policy in the policy file format");
	auto save_path = std::make_shared<std::string>();
	save->add_option("file", *save_path, "Output file; default: standard output");
	save->callback([save_path, &global] {
		FilterMaps maps = FilterMaps::open_pinned(global.pin_dir);
		std::vector<Rule> rules;
		for (auto &live : maps.rules())
			rules.push_back(live.rule);
		Policy policy = policy_from_rules(rules);
		policy.dhcp = maps.settings().flags & AG_SETTING_DHCP;
		for (auto &iface : maps.interfaces()) {
			if (iface.role == AG_ROLE_UPLINK)
				policy.uplink = iface.name;
			else
				policy.bridges.emplace_back(iface.name);
		}
		std::string text = format_policy(policy);
		if (save_path->empty()) {
			std::fputs(text.c_str(), stdout);
			return;
		}
		std::string tmp = *save_path + ".tmp";
		std::ofstream out(tmp, std::ios::trunc);
		out << text;
		out.close();
		if (!out)
			fail("cannot write {}: {}", tmp, errno_text(errno));
		if (std::rename(tmp.c_str(), save_path->c_str()))
			fail("cannot rename {} to {}: {}", tmp, *save_path, errno_text(errno));
	});

	auto *restore = app.add_subcommand(
		"restore", "Replace the live rules and DHCP setting with a policy file's, in one switch");
	auto restore_path = std::make_shared<std::string>();
	auto dry_run = std::make_shared<bool>(false);
	restore->add_option("file", *restore_path, "Policy file")->required();
	restore->add_flag("--dry-run", *dry_run, "Print what would be added and removed, and change nothing");
	restore->callback([restore_path, dry_run, &global] {
		Policy policy = parse_policy_file(*restore_path);
		if (*dry_run) {
			FilterMaps maps = FilterMaps::open_pinned(global.pin_dir);
			RuleChanges changes = maps.plan_rules(policy.effective_rules());
			for (auto &rule : changes.added)
				std::printf("would add %s\n", rule.describe().c_str());
			for (auto &rule : changes.removed)
				std::printf("would remove %s\n", rule.describe().c_str());
			bool dhcp = maps.settings().flags & AG_SETTING_DHCP;
			std::printf("%zu to add, %zu to remove; dhcp %s%s\n", changes.added.size(), changes.removed.size(),
				    policy.dhcp ? "allowed" : "blocked", dhcp == policy.dhcp ? "" : " (changes)");
			return;
		}
		auto rules = resolve_rules(policy.effective_rules());
		edit_filter(global, [&](FilterMaps &maps) {
			RuleChanges changes = maps.replace_rules(rules);
			maps.set_settings({policy.dhcp ? AG_SETTING_DHCP : 0u, 0});
			for (auto &rule : changes.added)
				std::printf("added %s\n", rule.describe().c_str());
			for (auto &rule : changes.removed)
				std::printf("removed %s\n", rule.describe().c_str());
		});
		std::printf("restored %zu rule(s) from %s; dhcp %s\n", rules.size(), restore_path->c_str(),
			    policy.dhcp ? "allowed" : "blocked");
	});
}

void add_refresh(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("refresh", "Resolve the rules' host names again and switch to the new addresses at once");
	cmd->callback([&global] {
		edit_filter(global, [&](FilterMaps &maps) {
			std::vector<Rule> rules;
			for (auto &live : maps.rules())
				rules.push_back(live.rule);
			auto resolved = resolve_rules(rules);
			maps.replace_rules(resolved);
			for (auto &r : resolved) {
				if (r.rule.host.empty())
					continue;
				std::vector<std::string> texts;
				for (auto &address : r.addresses)
					texts.push_back(address.to_string());
				std::printf("%s: %s -> %s\n", r.rule.name.c_str(), r.rule.host.c_str(),
					    fmt::format("{}", fmt::join(texts, ", ")).c_str());
			}
		});
	});
}

} // namespace

void add_rule_commands(CLI::App &app, GlobalOptions &global)
{
	add_rule_group(app, global);
	add_forward_group(app, global);
	add_save_restore(app, global);
	add_refresh(app, global);
}

} // namespace airgap
