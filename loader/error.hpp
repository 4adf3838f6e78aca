// Error type of the loader: one message with its context, printed once by the CLI.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace airgap {

class Error : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// Throw Error with a formatted message.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args &&...args)
{
	throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Text of an errno value, for messages: "No such device (errno 19)".
inline std::string errno_text(int err)
{
	if (err < 0)
		err = -err;
	return fmt::format("{} (errno {})", std::strerror(err), err);
}

} // namespace airgap
