// The pin directory on bpffs: mounting bpffs where it is missing, and the lock
// that serialises every command that changes the filter.
#pragma once

#include <string>

#include "loader/unique_fd.hpp"

namespace airgap {

// Make sure the parent of pin_dir is on bpffs, mounting /sys/fs/bpf if that
// is the parent and nothing is mounted there. Throws Error otherwise.
void ensure_bpffs(const std::string &pin_dir);

// True when pin_dir contains the pinned maps of a loaded filter.
bool filter_is_pinned(const std::string &pin_dir);

// Remove pin_dir and everything pinned in it; missing files are fine.
void remove_pins(const std::string &pin_dir);

// An exclusive flock on the pin directory. Held for the whole of a command,
// so that two edits never interleave. With create, a missing directory is
// made. Without it, a missing directory is an error: the filter is not loaded.
class PinLock {
public:
	PinLock(const std::string &pin_dir, bool create);

private:
	UniqueFd fd_;
};

} // namespace airgap
