// A difference between the model and the programs, saved as a pcapng file.
// The file has one interface per hook, so that each packet shows where it
// ran, and each packet carries a comment with its origin and both decisions.
#pragma once

#include <string>
#include <vector>

#include "model.hpp"

namespace model {

class CaseFile {
public:
	// A packet that set up the state the case depends on, or the case's
	// packet itself; step orders them in time.
	void add(Hook hook, std::uint64_t step, const Bytes &frame, std::string comment);
	// Write the file; throws std::runtime_error naming the path.
	void write(const std::string &path) const;

private:
	struct Record {
		Hook hook;
		std::uint64_t step;
		Bytes frame;
		std::string comment;
	};
	std::vector<Record> records_;
};

} // namespace model
