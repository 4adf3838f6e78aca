// Leveled logging to stderr. libbpf's own messages are routed here too and
// appear only at debug level (-v).
#pragma once

#include <fmt/format.h>

namespace airgap::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

void set_level(Level level);
Level level();
void write(Level level, const std::string &message);

// Send libbpf's messages through this log at debug level.
void route_libbpf();

template <typename... Args>
void error(fmt::format_string<Args...> format, Args &&...args)
{
	write(Level::error, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void warn(fmt::format_string<Args...> format, Args &&...args)
{
	if (level() >= Level::warn)
		write(Level::warn, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void info(fmt::format_string<Args...> format, Args &&...args)
{
	if (level() >= Level::info)
		write(Level::info, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void debug(fmt::format_string<Args...> format, Args &&...args)
{
	if (level() >= Level::debug)
		write(Level::debug, fmt::format(format, std::forward<Args>(args)...));
}

} // namespace airgap::log
