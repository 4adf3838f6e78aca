#include "frame.hpp"

#include <algorithm>
#include <stdexcept>

namespace model {
namespace {

constexpr std::uint8_t kDstMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr std::uint8_t kSrcMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr std::uint16_t kVlanId = 100;
// Routing header type 253 is reserved for experiments; with segments left 0
// a node passes over it.
constexpr std::uint8_t kRoutingExperimental = 253;
constexpr std::uint8_t kOptionPadN = 1;
constexpr std::uint8_t kOptionRouterAlert = 5;

// Appends header fields to a frame and records where each one is.
class Writer {
public:
	explicit Writer(Frame &frame) : frame_(frame) {}

	std::size_t size() const { return frame_.bytes.size(); }

	void put8(FieldKind kind, std::uint8_t value)
	{
		note(kind, 1);
		frame_.bytes.push_back(value);
	}

	void put16(FieldKind kind, std::uint16_t value)
	{
		note(kind, 2);
		frame_.bytes.push_back(value >> 8);
		frame_.bytes.push_back(value & 0xff);
	}

	void put32(FieldKind kind, std::uint32_t value)
	{
		note(kind, 4);
		for (int shift = 24; shift >= 0; shift -= 8)
			frame_.bytes.push_back(value >> shift & 0xff);
	}

	void put_ipv4(const Address &address)
	{
		note(FieldKind::ipv4_address, 4);
		frame_.bytes.insert(frame_.bytes.end(), address.begin() + 12, address.end());
	}

	void put_ipv6(const Address &address)
	{
		note(FieldKind::ipv6_address, 16);
		frame_.bytes.insert(frame_.bytes.end(), address.begin(), address.end());
	}

	// Bytes mutated 4 at a time.
	void put_bytes(FieldKind kind, const Bytes &bytes)
	{
		for (std::size_t i = 0; i < bytes.size(); i += 4)
			frame_.fields.push_back({kind, static_cast<std::uint16_t>(size() + i),
						 static_cast<std::uint8_t>(std::min<std::size_t>(4, bytes.size() - i))});
		frame_.bytes.insert(frame_.bytes.end(), bytes.begin(), bytes.end());
	}

	// The first `keep` bytes of another frame, with the fields that lie
	// wholly inside them.
	void append(const Frame &other, std::size_t keep)
	{
		keep = std::min(keep, other.bytes.size());
		std::size_t base = size();
		for (const Field &field : other.fields) {
			if (field.offset + field.size <= keep)
				frame_.fields.push_back(
					{field.kind, static_cast<std::uint16_t>(base + field.offset), field.size});
		}
		frame_.bytes.insert(frame_.bytes.end(), other.bytes.begin(), other.bytes.begin() + keep);
	}

	void set16(std::size_t at, std::uint16_t value)
	{
		frame_.bytes[at] = value >> 8;
		frame_.bytes[at + 1] = value & 0xff;
	}

	const std::uint8_t *data(std::size_t at) const { return &frame_.bytes[at]; }

private:
	void note(FieldKind kind, std::uint8_t size)
	{
		frame_.fields.push_back({kind, static_cast<std::uint16_t>(this->size()), size});
	}

	Frame &frame_;
};

std::uint32_t sum16(const std::uint8_t *data, std::size_t len, std::uint32_t sum = 0)
{
	for (std::size_t i = 0; i + 1 < len; i += 2)
		sum += data[i] << 8 | data[i + 1];
	if (len % 2)
		sum += data[len - 1] << 8;
	return sum;
}

std::uint16_t fold(std::uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return static_cast<std::uint16_t>(~sum);
}

void write_ethernet(Writer &w, const std::vector<std::uint16_t> &vlan_tpids, std::uint16_t ether_type)
{
	for (std::uint8_t byte : kDstMac)
		w.put8(FieldKind::mac, byte);
	for (std::uint8_t byte : kSrcMac)
		w.put8(FieldKind::mac, byte);
	for (std::uint16_t tpid : vlan_tpids) {
		w.put16(FieldKind::ether_type, tpid);
		w.put16(FieldKind::vlan_tci, kVlanId);
	}
	w.put16(FieldKind::ether_type, ether_type);
}

void write_ip(Writer &w, const Ip &ip);

// The L4 header and payload. pseudo_sum is the checksum sum of the
// pseudo-header's addresses, or nullopt for ICMPv4, which has none.
void write_l4(Writer &w, const L4 &l4, std::optional<std::uint32_t> pseudo_sum)
{
	if (l4.raw) {
		w.put_bytes(FieldKind::payload, l4.payload);
		return;
	}

	std::size_t start = w.size();
	std::size_t checksum_at;
	if (l4.proto == 6) {
		w.put16(FieldKind::port, l4.sport);
		w.put16(FieldKind::port, l4.dport);
		w.put32(FieldKind::tcp_sequence, 0x10000001);
		w.put32(FieldKind::tcp_sequence, l4.tcp_flags & 0x10 ? 0x20000001 : 0);
		w.put8(FieldKind::tcp_offset, static_cast<std::uint8_t>((5 + l4.tcp_options) << 4));
		w.put8(FieldKind::tcp_flags, l4.tcp_flags);
		w.put16(FieldKind::tcp_window, 64240);
		checksum_at = w.size();
		w.put16(FieldKind::l4_checksum, 0);
		w.put16(FieldKind::tcp_window, 0); // urgent pointer
		// NOPs, then end of options.
		Bytes options(l4.tcp_options * 4u, 0x01);
		if (!options.empty())
			options.back() = 0x00;
		w.put_bytes(FieldKind::payload, options);
		w.put_bytes(FieldKind::payload, l4.payload);
	} else if (l4.proto == 17) {
		w.put16(FieldKind::port, l4.sport);
		w.put16(FieldKind::port, l4.dport);
		w.put16(FieldKind::udp_length, static_cast<std::uint16_t>(8 + l4.payload.size()));
		checksum_at = w.size();
		w.put16(FieldKind::l4_checksum, 0);
		w.put_bytes(FieldKind::payload, l4.payload);
	} else if (l4.proto == 1 || l4.proto == 58) {
		w.put8(FieldKind::icmp_type, l4.icmp_type);
		w.put8(FieldKind::icmp_code, l4.icmp_code);
		checksum_at = w.size();
		w.put16(FieldKind::l4_checksum, 0);
		w.put16(FieldKind::icmp_rest, l4.icmp_rest_high);
		w.put16(FieldKind::icmp_rest, l4.icmp_rest_low);
		if (l4.quote) {
			Frame quoted;
			Writer inner(quoted);
			write_ip(inner, *l4.quote);
			w.append(quoted, l4.quote_len);
		}
		w.put_bytes(FieldKind::payload, l4.payload);
	} else {
		w.put_bytes(FieldKind::payload, l4.payload);
		return;
	}

	std::size_t len = w.size() - start;
	std::uint32_t sum = 0;
	if (pseudo_sum)
		sum = *pseudo_sum + l4.proto + static_cast<std::uint32_t>(len);
	std::uint16_t checksum = fold(sum16(w.data(start), len, sum));
	if (l4.proto == 17 && checksum == 0)
		checksum = 0xffff;
	w.set16(checksum_at, checksum);
}

void write_ipv4(Writer &w, const Ip &ip)
{
	if (ip.options % 4 || ip.options > 40)
		throw std::invalid_argument("IPv4 options must be a multiple of 4 bytes, at most 40");
	std::size_t start = w.size();
	std::size_t header_len = 20 + ip.options;
	w.put8(FieldKind::ipv4_version_ihl, static_cast<std::uint8_t>(0x40 | header_len / 4));
	w.put8(FieldKind::ipv4_tos, 0);
	w.put16(FieldKind::ipv4_total_length, 0); // set below
	w.put16(FieldKind::ipv4_id, ip.id);
	w.put16(FieldKind::ipv4_fragment, ip.fragment_field);
	w.put8(FieldKind::ipv4_ttl, ip.ttl);
	w.put8(FieldKind::ipv4_protocol, ip.l4.proto);
	w.put16(FieldKind::ipv4_checksum, 0); // set below
	w.put_ipv4(ip.src);
	w.put_ipv4(ip.dst);
	if (ip.option_bytes.size() > ip.options)
		throw std::invalid_argument("IPv4 option bytes longer than the options");
	for (std::size_t i = 0; i < ip.options; i++) {
		std::uint8_t byte = i + 1 == ip.options ? 0x00 : 0x01; // NOPs, end of options
		w.put8(FieldKind::ipv4_option, i < ip.option_bytes.size() ? ip.option_bytes[i] : byte);
	}

	std::uint32_t pseudo = sum16(w.data(start + 12), 8);
	write_l4(w, ip.l4, ip.l4.proto == 1 ? std::nullopt : std::optional<std::uint32_t>(pseudo));
	w.set16(start + 2, static_cast<std::uint16_t>(w.size() - start));
	w.set16(start + 10, fold(sum16(w.data(start), header_len)));
}

void write_extension(Writer &w, const Extension &ext, std::uint8_t next, bool router_alert)
{
	w.put8(FieldKind::extension_next_header, next);
	if (ext.type == 44) {
		w.put8(FieldKind::extension_body, 0);
		w.put16(FieldKind::ipv6_fragment_field,
			static_cast<std::uint16_t>(ext.fragment_offset << 3 | (ext.more_fragments ? 1 : 0)));
		w.put32(FieldKind::ipv6_fragment_id, ext.fragment_id);
		return;
	}
	std::size_t len = 8 * (ext.units + 1u);
	w.put8(FieldKind::extension_length, ext.units);
	Bytes body;
	if (ext.type == 43) {
		body.push_back(kRoutingExperimental);
		body.push_back(ext.segments_left);
		body.resize(len - 2, 0);
	} else if (router_alert) {
		body = {kOptionRouterAlert, 2, 0, 0}; // MLD
		body.push_back(kOptionPadN);
		body.push_back(static_cast<std::uint8_t>(len - 8));
		body.resize(len - 2, 0);
	} else {
		body.push_back(kOptionPadN);
		body.push_back(static_cast<std::uint8_t>(len - 4));
		body.resize(len - 2, 0);
	}
	w.put_bytes(FieldKind::extension_body, body);
}

void write_ipv6(Writer &w, const Ip &ip)
{
	std::size_t start = w.size();
	std::uint8_t first = ip.extensions.empty() ? ip.l4.proto : ip.extensions.front().type;
	w.put16(FieldKind::ipv6_version_class, 0x6000);
	w.put16(FieldKind::ipv6_flow_label, 0);
	w.put16(FieldKind::ipv6_payload_length, 0); // set below
	w.put8(FieldKind::ipv6_next_header, first);
	w.put8(FieldKind::ipv6_hop_limit, ip.hop_limit);
	w.put_ipv6(ip.src);
	w.put_ipv6(ip.dst);
	for (std::size_t i = 0; i < ip.extensions.size(); i++) {
		std::uint8_t next = i + 1 < ip.extensions.size() ? ip.extensions[i + 1].type : ip.l4.proto;
		write_extension(w, ip.extensions[i], next, ip.router_alert && i == 0);
	}
	std::uint32_t pseudo = sum16(w.data(start + 8), 32);
	write_l4(w, ip.l4, pseudo);
	w.set16(start + 4, static_cast<std::uint16_t>(w.size() - start - 40));
}

void write_ip(Writer &w, const Ip &ip)
{
	if (ip.version == 4)
		write_ipv4(w, ip);
	else
		write_ipv6(w, ip);
}

} // namespace

Frame ip_frame(const std::vector<std::uint16_t> &vlan_tpids, const Ip &ip)
{
	Frame frame;
	Writer w(frame);
	write_ethernet(w, vlan_tpids, ip.version == 4 ? 0x0800 : 0x86dd);
	write_ip(w, ip);
	return frame;
}

Frame arp_frame(const std::vector<std::uint16_t> &vlan_tpids, std::uint16_t operation, const Address &sender,
		const Address &target)
{
	Frame frame;
	Writer w(frame);
	write_ethernet(w, vlan_tpids, 0x0806);
	w.put16(FieldKind::arp, 1);      // hardware type: Ethernet
	w.put16(FieldKind::arp, 0x0800); // protocol type
	w.put8(FieldKind::arp, 6);
	w.put8(FieldKind::arp, 4);
	w.put16(FieldKind::arp, operation);
	w.put_bytes(FieldKind::arp, Bytes(kSrcMac, kSrcMac + 6));
	w.put_ipv4(sender);
	w.put_bytes(FieldKind::arp, Bytes(6, 0));
	w.put_ipv4(target);
	return frame;
}

Frame raw_frame(std::uint16_t ether_type, const Bytes &body)
{
	Frame frame;
	Writer w(frame);
	write_ethernet(w, {}, ether_type);
	w.put_bytes(FieldKind::payload, body);
	return frame;
}

void cut(Frame &frame, std::size_t len)
{
	if (len >= frame.bytes.size())
		return;
	frame.bytes.resize(len);
	std::erase_if(frame.fields, [&](const Field &field) { return field.offset + field.size > len; });
}

} // namespace model
