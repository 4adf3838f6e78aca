#include "loader/log.hpp"

#include <cstdarg>
#include <cstdio>
#include <string>

#include <bpf/libbpf.h>

namespace airgap::log {
namespace {

Level current_level = Level::info;

int print_libbpf(enum libbpf_print_level, const char *format, va_list args)
{
	if (current_level < Level::debug)
		return 0;
	return std::vfprintf(stderr, format, args);
}

const char *prefix(Level level)
{
	switch (level) {
	case Level::error:
		return "error: ";
	case Level::warn:
		return "warning: ";
	case Level::info:
		return "";
	case Level::debug:
		return "debug: ";
	}
	return "";
}

} // namespace

void set_level(Level level)
{
	current_level = level;
}

Level level()
{
	return current_level;
}

void write(Level level, const std::string &message)
{
	std::fprintf(stderr, "%s%s\n", prefix(level), message.c_str());
}

void route_libbpf()
{
	libbpf_set_print(print_libbpf);
}

} // namespace airgap::log
