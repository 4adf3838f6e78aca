#include "case_file.hpp"

#include <fstream>
#include <stdexcept>

namespace model {
namespace {

// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
constexpr std::uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr std::uint32_t kInterfaceDescription = 0x00000001;
constexpr std::uint32_t kEnhancedPacket = 0x00000006;
constexpr std::uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr std::uint16_t kLinkTypeEthernet = 1;
constexpr std::uint16_t kOptionEnd = 0;
constexpr std::uint16_t kOptionComment = 1;
constexpr std::uint16_t kOptionInterfaceName = 2;

class Block {
public:
	explicit Block(std::uint32_t type) : type_(type) {}

	void u16(std::uint16_t v) { put(&v, sizeof(v)); }
	void u32(std::uint32_t v) { put(&v, sizeof(v)); }
	void bytes(const void *data, std::size_t len)
	{
		put(data, len);
		pad();
	}
	void option(std::uint16_t code, const std::string &value)
	{
		u16(code);
		u16(static_cast<std::uint16_t>(value.size()));
		bytes(value.data(), value.size());
	}
	void end_options()
	{
		u16(kOptionEnd);
		u16(0);
	}

	// The block with its type and both length fields; the host's byte
	// order, which the section header's magic announces.
	std::string finish() const
	{
		std::uint32_t total = static_cast<std::uint32_t>(body_.size() + 12);
		std::string out;
		out.append(reinterpret_cast<const char *>(&type_), 4);
		out.append(reinterpret_cast<const char *>(&total), 4);
		out += body_;
		out.append(reinterpret_cast<const char *>(&total), 4);
		return out;
	}

private:
	void put(const void *data, std::size_t len) { body_.append(static_cast<const char *>(data), len); }
	void pad()
	{
		while (body_.size() % 4)
			body_.push_back('\0');
	}

	std::uint32_t type_;
	std::string body_;
};

} // namespace

void CaseFile::add(Hook hook, std::uint64_t step, const Bytes &frame, std::string comment)
{
	records_.push_back({hook, step, frame, std::move(comment)});
}

void CaseFile::write(const std::string &path) const
{
	std::string out;

	Block section(kSectionHeader);
	section.u32(kByteOrderMagic);
	section.u16(1); // version 1.0
	section.u16(0);
	section.u32(0xffffffff); // section length unknown
	section.u32(0xffffffff);
	out += section.finish();

	for (int i = 0; i < kHookCount; i++) {
		Block interface(kInterfaceDescription);
		interface.u16(kLinkTypeEthernet);
		interface.u16(0);
		interface.u32(0); // no snap length
		interface.option(kOptionInterfaceName, hook_name(static_cast<Hook>(i)));
		interface.end_options();
		out += interface.finish();
	}

	for (const Record &record : records_) {
		Block packet(kEnhancedPacket);
		packet.u32(static_cast<std::uint32_t>(record.hook));
		// The test's step number as microseconds, so that the order of
		// the packets in the run shows as time.
		packet.u32(static_cast<std::uint32_t>(record.step >> 32));
		packet.u32(static_cast<std::uint32_t>(record.step));
		packet.u32(static_cast<std::uint32_t>(record.frame.size()));
		packet.u32(static_cast<std::uint32_t>(record.frame.size()));
		packet.bytes(record.frame.data(), record.frame.size());
		packet.option(kOptionComment, record.comment);
		packet.end_options();
		out += packet.finish();
	}

	std::ofstream file(path, std::ios::binary | std::ios::trunc);
	file.write(out.data(), static_cast<std::streamsize>(out.size()));
	file.close();
	if (!file)
		throw std::runtime_error("cannot write " + path);
}

} // namespace model
