#include "loader/bpffs.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "loader/error.hpp"
#include "loader/log.hpp"
#include "maps/airgap_maps.h"

namespace airgap {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;
constexpr const char *kDefaultBpffs = "/sys/fs/bpf";

bool is_bpffs(const std::string &path)
{
	struct statfs st {};
	return statfs(path.c_str(), &st) == 0 && st.f_type == kBpfFsMagic;
}

} // namespace

void ensure_bpffs(const std::string &pin_dir)
{
	std::string parent = std::filesystem::path(pin_dir).parent_path();
	if (is_bpffs(parent))
		return;
	if (parent != kDefaultBpffs)
		fail("cannot use pin directory {}: {} is not on a bpffs mount", pin_dir, parent);

	if (mkdir(kDefaultBpffs, 0700) && errno != EEXIST)
		fail("cannot create {}: {}", kDefaultBpffs, errno_text(errno));
	if (mount("bpf", kDefaultBpffs, "bpf", 0, "mode=0700"))
		fail("cannot mount bpffs on {}: {}", kDefaultBpffs, errno_text(errno));
	log::info("mounted bpffs on {}", kDefaultBpffs);
}

bool filter_is_pinned(const std::string &pin_dir)
{
	std::string path = pin_dir + "/" + AG_MAP_RULES;
	return access(path.c_str(), F_OK) == 0;
}

void remove_pins(const std::string &pin_dir)
{
	std::error_code ec;
	std::filesystem::remove_all(pin_dir, ec);
	if (ec)
		fail("cannot remove pin directory {}: {}", pin_dir, ec.message());
}

PinLock::PinLock(const std::string &pin_dir, bool create)
{
	if (create && mkdir(pin_dir.c_str(), 0700) && errno != EEXIST)
		fail("cannot create pin directory {}: {}", pin_dir, errno_text(errno));
	fd_ = UniqueFd(open(pin_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!fd_ && errno == ENOENT)
		fail("the filter is not loaded: pin directory {} does not exist", pin_dir);
	if (!fd_)
		fail("cannot open pin directory {}: {}", pin_dir, errno_text(errno));
	if (flock(fd_.get(), LOCK_EX))
		fail("cannot lock pin directory {}: {}", pin_dir, errno_text(errno));
}

} // namespace airgap
