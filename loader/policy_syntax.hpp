// A strict check of the TOML subset policy files use, run before toml++.
#pragma once

#include <string>
#include <string_view>

namespace airgap {

/*
 * Check that text uses only the TOML subset of policy files and return it
 * with comments blanked out. Throws Error naming source and line otherwise.
 *
 * toml++ 3.3 (Debian 12) asserts on some malformed input instead of
 * reporting it, and with NDEBUG its assertions become assumptions the
 * compiler may act on. So toml++ only ever sees this subset: table and
 * array-of-tables headers with bare names; `key = value` lines with bare
 * keys; values that are strings without backslashes, unsigned integers,
 * true, false, or one-level arrays of those, which may span lines. Comments
 * may hold any text; everything else is printable ASCII.
 */
std::string check_policy_syntax(std::string_view text, const std::string &source);

} // namespace airgap
