// posix_spawn file actions that send a child's standard output to
// /dev/null, so that a timed command's messages stay out of the JSON lines.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

namespace bench {

class SpawnQuiet {
public:
	SpawnQuiet()
	{
		posix_spawn_file_actions_init(&actions_);
		posix_spawn_file_actions_addopen(&actions_, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	}
	~SpawnQuiet() { posix_spawn_file_actions_destroy(&actions_); }
	SpawnQuiet(const SpawnQuiet &) = delete;
	SpawnQuiet &operator=(const SpawnQuiet &) = delete;

	const posix_spawn_file_actions_t *actions() const { return &actions_; }

private:
	posix_spawn_file_actions_t actions_;
};

} // namespace bench
