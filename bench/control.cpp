#include "bench/control.hpp"

#include <bpf/bpf.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <string>

#include "bench/bench.hpp"
#include "bench/spawn.hpp"
#include "loader/error.hpp"
#include "loader/log.hpp"
#include "loader/programs.hpp"
#include "loader/resolve.hpp"
#include "loader/unique_fd.hpp"

extern char **environ;

namespace bench {
namespace {

std::string ms_list(const std::vector<double> &seconds)
{
	std::string out = "[";
	for (std::size_t i = 0; i < seconds.size(); i++)
		out += fmt::format("{}{:.4f}", i ? "," : "", seconds[i] * 1e3);
	return out + "]";
}

void emit_ms(const std::string &what, const std::vector<double> &seconds)
{
	emit(fmt::format(R"({{"kind":"control","what":"{}","ms":{}}})", what, ms_list(seconds)));
}

// An allow-in rule outside the benchmark's rule set: 172.24.0.0/16 is not
// reached by allow_in_address() below 262,000 rules.
airgap::Rule extra_rule(std::uint32_t i)
{
	airgap::Rule rule;
	rule.kind = airgap::RuleKind::allow_in;
	rule.proto = 6;
	rule.port = kAllowInPort;
	rule.peer = airgap::Prefix::parse(ipv4_text((172u << 24 | 24u << 16) + 1 + i));
	rule.name = fmt::format("extra-{}", i);
	return rule;
}

} // namespace

void run_control(const ControlOptions &options)
{
	airgap::ProgramOptions program_options;
	program_options.max_rules = options.max_rules;

	std::vector<double> loads;
	for (std::uint32_t i = 0; i < options.loads; i++) {
		double start = now_seconds();
		airgap::Programs programs = airgap::Programs::load(program_options);
		loads.push_back(now_seconds() - start);
	}
	emit_ms("library-load", loads);

	airgap::Programs programs = airgap::Programs::load(program_options);
	airgap::FilterMaps::Fds fds = programs.map_fds();
	double start = now_seconds();
	write_rules(fds, 0, options.rules);
	emit_ms("bulk-write", {now_seconds() - start});

	airgap::FilterMaps maps = airgap::FilterMaps::from_fds(fds);
	std::vector<double> adds, deletes;
	std::vector<airgap::LiveRule> added;
	for (std::uint32_t i = 0; i < options.library_edits; i++) {
		airgap::Rule rule = extra_rule(i);
		start = now_seconds();
		std::uint32_t id = maps.add_rule(airgap::ResolvedRule{rule, {rule.peer}});
		adds.push_back(now_seconds() - start);
		added.push_back({id, rule});
	}
	for (auto &live : added) {
		start = now_seconds();
		maps.delete_rule(live);
		deletes.push_back(now_seconds() - start);
	}
	emit_ms("library-add", adds);
	emit_ms("library-delete", deletes);

	// What an insert costs in the kernel: the rule's slot, then its trie entry.
	airgap::UniqueFd trie(open_live_trie(fds.rules));
	std::vector<double> map_adds, map_deletes;
	std::uint32_t slot = options.rules;
	for (std::uint32_t i = 0; i < options.map_edits; i++) {
		airgap::Rule rule = extra_rule(options.library_edits + i);
		ag_rule_info info = rule.map_info(1000 + i);
		ag_rule_key key = rule.map_key(rule.peer);
		ag_rule_ref ref{slot, 1000 + i};
		start = now_seconds();
		if (bpf_map_update_elem(fds.rule_table, &slot, &info, BPF_ANY) ||
		    bpf_map_update_elem(trie.get(), &key, &ref, BPF_NOEXIST))
			airgap::fail("cannot add {}: {}", rule.describe(), airgap::errno_text(errno));
		map_adds.push_back(now_seconds() - start);
		start = now_seconds();
		if (bpf_map_delete_elem(trie.get(), &key))
			airgap::fail("cannot delete {}: {}", rule.describe(), airgap::errno_text(errno));
		map_deletes.push_back(now_seconds() - start);
	}
	emit_ms("map-add", map_adds);
	emit_ms("map-delete", map_deletes);
}

void fill_pinned(const std::string &pin_dir, std::uint32_t rules)
{
	auto open = [&](const char *name) {
		std::string path = pin_dir + "/" + name;
		int fd = bpf_obj_get(path.c_str());
		if (fd < 0)
			airgap::fail("cannot open pinned map {}: {}", path, airgap::errno_text(errno));
		return airgap::UniqueFd(fd);
	};
	airgap::UniqueFd rules_fd = open(AG_MAP_RULES);
	airgap::UniqueFd table_fd = open(AG_MAP_RULE_TABLE);
	airgap::FilterMaps::Fds fds{};
	fds.rules = rules_fd.get();
	fds.rule_table = table_fd.get();
	write_rules(fds, 0, rules);
}

void time_commands(const std::string &label, std::uint32_t count, const std::vector<std::string> &command)
{
	std::vector<double> times;
	for (std::uint32_t i = 0; i < count; i++) {
		std::vector<std::string> args;
		for (auto arg : command) {
			for (auto at = arg.find("{i}"); at != std::string::npos; at = arg.find("{i}"))
				arg.replace(at, 3, std::to_string(i));
			args.push_back(arg);
		}
		std::vector<char *> argv;
		for (auto &arg : args)
			argv.push_back(arg.data());
		argv.push_back(nullptr);

		double start = now_seconds();
		pid_t pid = 0;
		SpawnQuiet quiet;
		if (int err = posix_spawnp(&pid, argv[0], quiet.actions(), nullptr, argv.data(), environ))
			airgap::fail("cannot run {}: {}", args[0], airgap::errno_text(err));
		int status = 0;
		waitpid(pid, &status, 0);
		times.push_back(now_seconds() - start);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			airgap::fail("run {} of {} failed with status {}", i, args[0], status);
	}
	emit_ms(label, times);
}

} // namespace bench
