#include "generator.hpp"

#include <algorithm>
#include <iterator>

namespace model {
namespace {

constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88a8;

constexpr std::uint8_t kFin = 0x01;
constexpr std::uint8_t kSyn = 0x02;
constexpr std::uint8_t kRst = 0x04;
constexpr std::uint8_t kPsh = 0x08;
constexpr std::uint8_t kAck = 0x10;

constexpr std::uint16_t kEphemeralBase = 40000;
constexpr std::uint32_t kEphemeralCount = 16;
constexpr std::size_t kMaxTrackedFlows = 4096;
constexpr std::size_t kMaxFirstFragments = 512;
constexpr std::size_t kHistory = 256;
// Cut every offset of frames up to this long, and a few offsets past it.
constexpr std::size_t kFullCutLength = 160;

int family(const Address &address)
{
	return is_ipv4_mapped(address) ? 4 : 6;
}

// Addresses next to a prefix's edges and inside it.
void add_around(std::vector<Address> &pool, const Prefix &prefix, std::mt19937_64 &rng)
{
	if (prefix.length == 0)
		return;
	Address first = prefix.address;
	Address last = prefix.address;
	Address inside = prefix.address;
	for (int bit = prefix.length; bit < 128; bit++) {
		std::uint8_t mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
		first[bit / 8] &= static_cast<std::uint8_t>(~mask);
		last[bit / 8] |= mask;
		if (rng() & 1)
			inside[bit / 8] |= mask;
		else
			inside[bit / 8] &= static_cast<std::uint8_t>(~mask);
	}
	auto step = [](Address a, int delta) {
		for (int i = 15; i >= 0; i--) {
			int v = a[i] + delta;
			a[i] = static_cast<std::uint8_t>(v & 0xff);
			if (v >= 0 && v <= 0xff)
				break;
		}
		return a;
	};
	bool v4 = is_ipv4_mapped(prefix.address);
	for (const Address &a : {first, last, inside, step(first, -1), step(last, +1)}) {
		// Stepping off an IPv4 prefix must stay an IPv4 address.
		if (v4 != is_ipv4_mapped(a))
			continue;
		if (std::find(pool.begin(), pool.end(), a) == pool.end())
			pool.push_back(a);
	}
}

} // namespace

Generator::Generator(std::uint64_t seed, Endpoints endpoints, const std::vector<Rule> &rules)
	: rng_(seed), endpoints_(std::move(endpoints)), rules_(rules)
{
	for (const Rule &rule : rules) {
		auto &pool = rule.kind == RuleKind::forward ? endpoints_.containers : endpoints_.remotes;
		for (const Prefix &prefix : rule.addresses)
			add_around(pool, prefix, rng_);
		if (rule.port) {
			for (int delta : {-1, 0, 1}) {
				auto port = static_cast<std::uint16_t>(rule.port + delta);
				if (std::find(endpoints_.service_ports.begin(), endpoints_.service_ports.end(), port) ==
				    endpoints_.service_ports.end())
					endpoints_.service_ports.push_back(port);
			}
		}
	}
}

Bytes Generator::random_bytes(std::size_t n)
{
	Bytes out(n);
	for (auto &byte : out)
		byte = static_cast<std::uint8_t>(rng_());
	return out;
}

Address Generator::pick_family(const std::vector<Address> &pool, int version)
{
	std::vector<const Address *> matching;
	for (const Address &a : pool) {
		if (family(a) == version)
			matching.push_back(&a);
	}
	if (matching.empty())
		return random_address(version);
	return *matching[below(static_cast<std::uint32_t>(matching.size()))];
}

Address Generator::random_address(int version)
{
	if (version == 4)
		return ipv4_mapped(static_cast<std::uint32_t>(rng_()));
	Address out;
	for (auto &byte : out)
		byte = static_cast<std::uint8_t>(rng_());
	return out;
}

Sender Generator::sender_for(Hook hook)
{
	switch (hook) {
	case Hook::uplink_xdp:
		return Sender::uplink;
	case Hook::uplink_egress:
		if (chance(0.92))
			return Sender::host;
		return chance(0.6) ? Sender::bridge : Sender::uplink;
	case Hook::bridge_ingress:
		return Sender::bridge;
	case Hook::bridge_egress:
		if (chance(0.75))
			return Sender::host;
		return chance(0.6) ? Sender::uplink : Sender::bridge;
	}
	return Sender::host;
}

std::vector<std::uint16_t> Generator::vlan_tags(std::string &origin)
{
	double r = std::uniform_real_distribution<double>(0, 1)(rng_);
	std::size_t tags = 3; // one more than the programs parse
	if (r < 0.88)
		tags = 0;
	else if (r < 0.96)
		tags = 1;
	else if (r < 0.99)
		tags = 2;
	std::vector<std::uint16_t> out;
	for (std::size_t i = 0; i < tags; i++)
		out.push_back(chance(0.7) ? kEtherVlan : kEtherQinQ);
	if (tags)
		origin += ", " + std::to_string(tags) + " vlan tags";
	return out;
}

Generator::Conversation Generator::fresh_conversation(Hook hook)
{
	Conversation c;
	int version = chance(0.6) ? 4 : 6;
	double r = std::uniform_real_distribution<double>(0, 1)(rng_);
	if (r < 0.45)
		c.proto = 6;
	else if (r < 0.75)
		c.proto = 17;
	else if (r < 0.87)
		c.proto = version == 4 ? 1 : 58;
	else if (r < 0.98)
		c.proto = pick(std::vector<std::uint8_t>{47, 132, 50, 103, 253});
	else
		c.proto = version == 4 ? 58 : 1; // ICMP of the other family
	auto ephemeral = [&] { return static_cast<std::uint16_t>(kEphemeralBase + below(kEphemeralCount)); };
	auto service = [&] { return pick(endpoints_.service_ports); };

	switch (hook) {
	case Hook::uplink_egress:
		c.src = chance(0.95) ? pick_family(endpoints_.host_uplink, version)
				     : pick_family(chance(0.5) ? endpoints_.containers : endpoints_.remotes, version);
		c.dst = pick_family(endpoints_.remotes, version);
		c.sport = chance(0.7) ? ephemeral() : service();
		c.dport = chance(0.85) ? service() : ephemeral();
		break;
	case Hook::uplink_xdp:
		c.src = pick_family(endpoints_.remotes, version);
		if (chance(0.95))
			c.dst = pick_family(endpoints_.host_uplink, version);
		else if (chance(0.4))
			c.dst = pick_family(endpoints_.containers, version); // routed on by the host
		else
			c.dst = pick_family(chance(0.5) ? endpoints_.host_bridge : endpoints_.remotes, version);
		c.sport = chance(0.6) ? service() : ephemeral();
		c.dport = chance(0.5) ? ephemeral() : service();
		break;
	case Hook::bridge_ingress:
		c.src = pick_family(endpoints_.containers, version);
		c.dst = pick_family(endpoints_.bridge_targets, version);
		c.sport = ephemeral();
		c.dport = chance(0.85) ? service() : ephemeral();
		break;
	case Hook::bridge_egress:
		c.src = pick_family(chance(0.7) ? endpoints_.host_bridge : endpoints_.remotes, version);
		c.dst = pick_family(endpoints_.containers, version);
		c.sport = chance(0.5) ? service() : ephemeral();
		c.dport = ephemeral();
		break;
	}
	if (c.proto == 1 || c.proto == 58) {
		// Echo identifiers from a small set, so that replies find flows.
		c.sport = static_cast<std::uint16_t>(0x4200 + below(8));
		c.dport = c.sport;
	}
	return c;
}

Address Generator::inside(const Prefix &prefix)
{
	if (prefix.length == 0)
		return pick(endpoints_.remotes);
	Address out = prefix.address;
	for (int bit = prefix.length; bit < 128; bit++) {
		std::uint8_t mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
		if (rng_() & 1)
			out[bit / 8] |= mask;
		else
			out[bit / 8] &= static_cast<std::uint8_t>(~mask);
	}
	return out;
}

bool Generator::ruled_conversation(Hook hook, Conversation &out)
{
	RuleKind kind;
	switch (hook) {
	case Hook::uplink_egress:
		kind = RuleKind::allow_out;
		break;
	case Hook::uplink_xdp:
		kind = RuleKind::allow_in;
		break;
	case Hook::bridge_ingress:
		kind = RuleKind::forward;
		break;
	default:
		return false;
	}
	std::vector<const Rule *> candidates;
	for (const Rule &rule : rules_) {
		if (rule.kind == kind)
			candidates.push_back(&rule);
	}
	if (candidates.empty())
		return false;
	const Rule &rule = *candidates[below(static_cast<std::uint32_t>(candidates.size()))];
	Address peer = inside(pick(rule.addresses));
	int version = family(peer);
	out.proto = rule.proto;
	out.dport = rule.port ? rule.port : pick(endpoints_.service_ports);
	out.sport = static_cast<std::uint16_t>(kEphemeralBase + below(kEphemeralCount));
	if (out.proto == 1 || out.proto == 58) {
		out.sport = static_cast<std::uint16_t>(0x4200 + below(8));
		out.dport = out.sport;
	}
	switch (hook) {
	case Hook::uplink_egress:
		out.src = pick_family(endpoints_.host_uplink, version);
		out.dst = peer;
		break;
	case Hook::uplink_xdp:
		out.src = peer;
		out.dst = pick_family(chance(0.9) ? endpoints_.host_uplink : endpoints_.containers, version);
		break;
	default:
		out.src = peer;
		out.dst = pick_family(chance(0.6) ? endpoints_.host_bridge : endpoints_.bridge_targets, version);
		break;
	}
	return true;
}

bool Generator::tracked_conversation(Hook hook, Conversation &out)
{
	// The uplink hooks see the uplink's flows, the bridge hooks the flows
	// the host opened into a bridge.
	bool bridge = hook == Hook::bridge_ingress || hook == Hook::bridge_egress;
	std::uint8_t zone = bridge ? AG_ZONE_BRIDGE : AG_ZONE_UPLINK;
	auto in_zone = [&](const FlowKey &key) { return key.zone == zone; };

	// Mostly a flow the tables hold now, else one that was admitted once
	// and may since have been cut, expired or pruned.
	std::vector<FlowKey> current;
	for (const auto &[key, flow] : model_->flows()) {
		if (in_zone(key))
			current.push_back(key);
	}
	std::vector<FlowKey> past;
	std::copy_if(flows_.begin(), flows_.end(), std::back_inserter(past), in_zone);
	FlowKey key;
	if (!current.empty() && chance(0.75))
		key = pick(current);
	else if (!past.empty())
		key = pick(past);
	else
		return false;

	out.proto = key.proto;
	if (hook == Hook::uplink_egress || hook == Hook::bridge_egress) {
		out.src = key.local;
		out.dst = key.remote;
		out.sport = key.local_port;
		out.dport = key.remote_port;
	} else {
		out.src = key.remote;
		out.dst = key.local;
		out.sport = key.remote_port;
		out.dport = key.local_port;
	}
	return true;
}

L4 Generator::l4_for(const Conversation &c)
{
	L4 l4;
	l4.proto = c.proto;
	l4.sport = c.sport;
	l4.dport = c.dport;
	if (c.proto == 6) {
		static const std::vector<std::uint8_t> flags = {
			kSyn, kSyn, kSyn | kAck, kAck, kPsh | kAck, kPsh | kAck, kFin | kAck, kRst, kRst | kAck, kFin,
		};
		l4.tcp_flags = chance(0.9) ? pick(flags) : static_cast<std::uint8_t>(rng_());
	} else if (c.proto == 1 || c.proto == 58) {
		bool v4_icmp = c.proto == 1;
		if (c.sport != 0 || chance(0.5)) {
			std::uint8_t request = v4_icmp ? 8 : 128;
			std::uint8_t reply = v4_icmp ? 0 : 129;
			l4.icmp_type = chance(0.5) ? request : reply;
			l4.icmp_rest_high = c.sport;
			l4.icmp_rest_low = static_cast<std::uint16_t>(below(100));
		} else {
			// Timestamps and node information: no echo, no error.
			l4.icmp_type = v4_icmp ? pick(std::vector<std::uint8_t>{13, 14, 15, 17})
					       : pick(std::vector<std::uint8_t>{139, 140, 141});
			l4.icmp_rest_high = static_cast<std::uint16_t>(rng_());
		}
	} else if (c.proto != 17) {
		l4.raw = true;
		l4.payload = random_bytes(4 + below(12));
	}
	return l4;
}

Ip Generator::conversation_packet(Hook hook, std::string &origin)
{
	Conversation c;
	bool tracked = chance(0.45) && tracked_conversation(hook, c);
	bool ruled = !tracked && chance(0.35) && ruled_conversation(hook, c);
	if (!tracked && !ruled)
		c = fresh_conversation(hook);
	Ip ip;
	ip.version = family(c.src) == 4 && family(c.dst) == 4 ? 4 : 6;
	ip.src = c.src;
	ip.dst = c.dst;
	ip.id = static_cast<std::uint16_t>(rng_());
	ip.l4 = l4_for(c);
	origin = "new";
	if (tracked)
		origin = "tracked";
	else if (ruled)
		origin = "allowed";
	origin += " proto " + std::to_string(c.proto);
	return ip;
}

Ip Generator::icmp_error(Hook hook, std::string &origin)
{
	// The quoted packet went the other way: an error to the host quotes a
	// packet the host sent, an error from the host one it received.
	Hook quoted_hook = hook == Hook::uplink_xdp ? Hook::uplink_egress : Hook::uplink_xdp;
	Conversation q;
	bool tracked = hook != Hook::bridge_ingress && chance(0.7) && tracked_conversation(quoted_hook, q);
	if (!tracked)
		q = fresh_conversation(hook == Hook::bridge_ingress ? Hook::bridge_egress : quoted_hook);
	int version = family(q.src) == 4 && family(q.dst) == 4 ? 4 : 6;
	origin = std::string("icmp error quoting a ") + (tracked ? "tracked" : "new") + " flow";

	auto quoted = std::make_shared<Ip>();
	quoted->version = version;
	quoted->src = q.src;
	quoted->dst = q.dst;
	quoted->id = static_cast<std::uint16_t>(rng_());
	quoted->l4 = l4_for(q);
	if (version == 4 && chance(0.1))
		quoted->options = static_cast<std::uint8_t>(4 * (1 + below(10)));
	if (version == 6 && chance(0.2)) {
		for (std::uint32_t i = 0, n = 1 + below(3); i < n; i++)
			quoted->extensions.push_back({pick(std::vector<std::uint8_t>{0, 43, 60, 44}),
						      static_cast<std::uint8_t>(below(2)), 0, false,
						      static_cast<std::uint32_t>(rng_())});
		origin += " with extension headers";
	}
	if (chance(0.05)) {
		std::swap(quoted->src, quoted->dst);
		std::swap(quoted->l4.sport, quoted->l4.dport);
		origin += ", reversed";
	}

	Ip ip;
	ip.version = version;
	Address host = quoted->src;
	Address peer = chance(0.5) ? quoted->dst : pick_family(endpoints_.routers, version);
	if (hook == Hook::uplink_xdp || hook == Hook::bridge_egress) {
		ip.src = peer;
		ip.dst = host;
	} else {
		// From the host, about a packet it received.
		ip.src = quoted->dst;
		ip.dst = quoted->src;
	}
	if (chance(0.05)) {
		ip.dst = pick_family(endpoints_.remotes, version);
		origin += ", other host address";
	}
	ip.id = static_cast<std::uint16_t>(rng_());
	ip.l4.proto = version == 4 ? 1 : 58;
	if (version == 4) {
		static const std::vector<std::pair<std::uint8_t, std::uint8_t>> types = {
			{3, 4}, {3, 4}, {3, 3}, {3, 1}, {11, 0}, {12, 0}, {5, 1}, {4, 0}};
		auto [type, code] = pick(types);
		ip.l4.icmp_type = type;
		ip.l4.icmp_code = code;
	} else {
		static const std::vector<std::pair<std::uint8_t, std::uint8_t>> types = {
			{2, 0}, {2, 0}, {1, 4}, {1, 0}, {3, 0}, {4, 0}, {137, 0}, {5, 0}};
		auto [type, code] = pick(types);
		ip.l4.icmp_type = type;
		ip.l4.icmp_code = code;
	}
	ip.l4.icmp_rest_low = version == 4 ? 1400 : 1280;
	std::size_t header = version == 4 ? 20u + quoted->options : 40u;
	for (const Extension &ext : quoted->extensions)
		header += ext.type == 44 ? 8 : 8 * (ext.units + 1u);
	ip.l4.quote_len = header + pick(std::vector<std::size_t>{8, 8, 12, 20, 64});
	if (chance(0.08)) {
		// As much of the packet as the error's size limit leaves room for.
		quoted->l4.payload = random_bytes(400 + below(1000));
		ip.l4.quote_len = header + 8 + quoted->l4.payload.size() - below(64);
		origin += ", long quote";
	}
	ip.l4.quote = quoted;
	return ip;
}

Frame Generator::link_frame(Hook hook, std::string &origin)
{
	double r = std::uniform_real_distribution<double>(0, 1)(rng_);
	if (r < 0.35) {
		origin = "arp";
		Frame frame = arp_frame(vlan_tags(origin), chance(0.5) ? 1 : 2,
					pick_family(endpoints_.host_uplink, 4), pick_family(endpoints_.remotes, 4));
		if (chance(0.1))
			cut(frame, 14 + below(28));
		return frame;
	}

	Ip ip;
	ip.version = 6;
	ip.l4.proto = 58;
	if (r < 0.6) {
		origin = "neighbour discovery";
		ip.l4.icmp_type = static_cast<std::uint8_t>(133 + below(5));
		ip.hop_limit = chance(0.8) ? 255 : pick(std::vector<std::uint8_t>{1, 64, 254});
		ip.src = chance(0.5) ? parse_address("fe80::2") : pick_family(endpoints_.host_uplink, 6);
		ip.dst = chance(0.5) ? parse_address("ff02::1") : pick_family(endpoints_.remotes, 6);
		ip.l4.payload = random_bytes(16);
	} else if (r < 0.8) {
		origin = "mld";
		ip.l4.icmp_type = pick(std::vector<std::uint8_t>{130, 131, 132, 143});
		ip.hop_limit = chance(0.8) ? 1 : pick(std::vector<std::uint8_t>{2, 64, 255});
		ip.src = parse_address("fe80::2");
		ip.dst = parse_address(chance(0.5) ? "ff02::16" : "ff02::1");
		if (chance(0.7)) {
			ip.extensions.push_back({0, 0});
			ip.router_alert = true;
		}
		ip.l4.payload = random_bytes(16);
	} else {
		origin = "dhcp";
		bool request = (hook == Hook::uplink_xdp) != chance(0.8);
		ip.version = chance(0.6) ? 4 : 6;
		ip.l4.proto = 17;
		if (ip.version == 4) {
			ip.l4.sport = request ? 68 : 67;
			ip.l4.dport = request ? 67 : 68;
			ip.src = parse_address(request ? "0.0.0.0" : "198.51.100.1");
			// Requests to the link, and unicast renewals, which need a
			// rule; replies to the host or to the link.
			if (request)
				ip.dst = parse_address(chance(0.8) ? "255.255.255.255" : "198.51.100.1");
			else
				ip.dst = parse_address(chance(0.7) ? "198.51.100.2" : "255.255.255.255");
		} else {
			ip.l4.sport = request ? 546 : 547;
			ip.l4.dport = request ? 547 : 546;
			ip.src = parse_address(request ? "fe80::2" : "fe80::1");
			if (request)
				ip.dst = parse_address(chance(0.8) ? "ff02::1:2" : pick(std::vector<const char *>{"ff02::1", "2001:db8::1"}));
			else
				ip.dst = parse_address("fe80::2");
		}
		ip.l4.payload = random_bytes(32);
		if (chance(0.1))
			fragment(hook, Sender::host, ip, origin);
	}
	return ip_frame(vlan_tags(origin), ip);
}

void Generator::decorate(Ip &ip, std::string &origin)
{
	if (ip.version == 4 && chance(0.1)) {
		ip.options = static_cast<std::uint8_t>(4 * (1 + below(10)));
		origin += ", ip options";
		// Router alert, record route, timestamp, loose and strict source
		// route, each as the first option or after NOPs.
		static const std::vector<Bytes> kOptions = {
			{0x94, 4, 0, 0}, {0x07, 7, 4, 0, 0, 0, 0}, {0x44, 8, 5, 0, 0, 0, 0, 0},
			{0x83, 7, 4, 203, 0, 113, 9}, {0x89, 7, 4, 203, 0, 113, 9},
		};
		if (chance(0.6)) {
			Bytes option = pick(kOptions);
			std::size_t nops = chance(0.5) ? 0 : below(4);
			if (nops + option.size() <= ip.options) {
				ip.option_bytes.assign(nops, 0x01);
				ip.option_bytes.insert(ip.option_bytes.end(), option.begin(), option.end());
			}
		}
	}
	if (ip.version == 6 && chance(0.12)) {
		std::uint32_t n = chance(0.8) ? 1 + below(3) : 4 + below(4);
		for (std::uint32_t i = 0; i < n; i++) {
			std::uint8_t type = pick(std::vector<std::uint8_t>{43, 60, 60});
			if (i == 0 && chance(0.6))
				type = 0;
			else if (chance(0.03))
				type = 0; // hop-by-hop in the wrong place
			Extension ext{type, static_cast<std::uint8_t>(below(3))};
			if (type == 43 && chance(0.25))
				ext.segments_left = static_cast<std::uint8_t>(1 + below(3));
			ip.extensions.push_back(ext);
		}
		origin += ", " + std::to_string(n) + " extension headers";
	}
	if (ip.l4.proto == 6 && !ip.l4.raw && chance(0.1))
		ip.l4.tcp_options = static_cast<std::uint8_t>(1 + below(10));
	if (!ip.l4.quote && !ip.l4.raw) {
		double r = std::uniform_real_distribution<double>(0, 1)(rng_);
		std::size_t len = 201 + below(1000);
		if (r < 0.7)
			len = below(33);
		else if (r < 0.95)
			len = 33 + below(168);
		ip.l4.payload = random_bytes(len);
	}
}

void Generator::fragment(Hook hook, Sender sender, Ip &ip, std::string &origin)
{
	FirstFragment first{hook, sender, ip.version, ip.src, ip.dst, 0, ip.l4.proto};
	if (ip.version == 4) {
		first.id = static_cast<std::uint16_t>(rng_());
		ip.id = static_cast<std::uint16_t>(first.id);
		ip.fragment_field = 0x2000;
	} else {
		first.id = static_cast<std::uint32_t>(rng_());
		// The fragment header follows the unfragmentable part: hop-by-hop
		// and routing headers.
		auto at = ip.extensions.begin();
		while (at != ip.extensions.end() && (at->type == 0 || at->type == 43))
			++at;
		at = ip.extensions.insert(at, Extension{44, 0, 0, true, first.id});
		++at;
		if (at != ip.extensions.end()) {
			first.next_header = at->type;
		} else if (chance(0.25)) {
			ip.extensions.push_back({60, 0});
			first.next_header = 60;
		}
	}
	origin += ", first fragment";
	if (first_fragments_.size() < kMaxFirstFragments)
		first_fragments_.push_back(first);
	else
		first_fragments_[below(kMaxFirstFragments)] = first;

	// Its later fragments follow soon, now and then on another hook.
	for (std::uint32_t i = 0, n = 1 + below(3); i < n; i++) {
		TestPacket later;
		later.hook = hook;
		later.sender = sender;
		if (chance(0.1)) {
			later.hook = static_cast<Hook>(below(kHookCount));
			later.sender = sender_for(later.hook);
		}
		later.frame = later_fragment(first, later.origin).bytes;
		later.origin += " of " + std::string(hook_name(hook));
		pending_[static_cast<int>(later.hook)].push_back(std::move(later));
	}
}

Frame Generator::later_fragment(const FirstFragment &first, std::string &origin)
{
	Ip ip;
	ip.version = first.version;
	ip.src = first.src;
	ip.dst = first.dst;
	ip.l4.proto = first.next_header;
	ip.l4.raw = true;
	ip.l4.payload = random_bytes(8 * (1 + below(8)));
	std::uint16_t offset = static_cast<std::uint16_t>(1 + below(180));
	bool more = chance(0.5);
	if (ip.version == 4) {
		ip.id = static_cast<std::uint16_t>(first.id);
		ip.fragment_field = static_cast<std::uint16_t>(offset | (more ? 0x2000 : 0));
	} else {
		ip.extensions.push_back({44, 0, offset, more, first.id});
	}
	origin = "later fragment";
	return ip_frame({}, ip);
}

TestPacket Generator::next(Hook hook, const Model &model)
{
	model_ = &model;
	auto &queue = pending_[static_cast<int>(hook)];
	if (!queue.empty()) {
		TestPacket packet = std::move(queue.front());
		queue.pop_front();
		return packet;
	}
	return build(hook);
}

TestPacket Generator::build(Hook hook)
{
	TestPacket base;
	base.hook = hook;
	base.sender = sender_for(hook);

	if (!history_.empty() && chance(0.02)) {
		TestPacket replay = pick(history_);
		replay.origin = "replayed from " + std::string(hook_name(replay.hook)) + ": " + replay.origin;
		replay.hook = hook;
		replay.sender = sender_for(hook);
		replay.mutated = true;
		return replay;
	}
	if (!first_fragments_.empty() && chance(0.02)) {
		const FirstFragment &first = pick(first_fragments_);
		base.frame = later_fragment(first, base.origin).bytes;
		base.origin += " again";
		return base;
	}

	Frame frame;
	double r = std::uniform_real_distribution<double>(0, 1)(rng_);
	bool uplink = hook == Hook::uplink_xdp || hook == Hook::uplink_egress;
	if (r < 0.07) {
		frame = link_frame(hook, base.origin);
	} else {
		bool error = (uplink && r < 0.19) || (!uplink && r < 0.1);
		Ip ip = error ? icmp_error(hook, base.origin) : conversation_packet(hook, base.origin);
		decorate(ip, base.origin);
		if (chance(0.08) && (!ip.l4.quote || chance(0.1)))
			fragment(hook, base.sender, ip, base.origin);
		frame = ip_frame(vlan_tags(base.origin), ip);
	}
	base.frame = frame.bytes;

	if (history_.size() < kHistory)
		history_.push_back(base);
	else
		history_[history_next_++ % kHistory] = base;

	queue_mutations(base, frame);
	if (!pending_[static_cast<int>(hook)].empty() && chance(0.15)) {
		// Now and then the first fragment, or the base of a sweep, comes
		// after what was queued behind it.
		pending_[static_cast<int>(hook)].push_back(base);
		return next(hook, *model_);
	}
	return base;
}

void Generator::queue_mutations(const TestPacket &base, const Frame &frame)
{
	auto &queue = pending_[static_cast<int>(base.hook)];
	double r = std::uniform_real_distribution<double>(0, 1)(rng_);
	if (r < 0.58 || frame.fields.empty())
		return;

	if (r < 0.88) {
		TestPacket mutated = base;
		Frame copy = frame;
		for (std::uint32_t i = 0, n = 1 + below(3); i < n; i++) {
			const Field &field = pick(frame.fields);
			mutate_field(copy, field);
			mutated.origin += ", mutated field at " + std::to_string(field.offset);
		}
		mutated.frame = copy.bytes;
		mutated.mutated = true;
		queue.push_back(std::move(mutated));
	} else if (r < 0.91) {
		// Field by field: one mutated copy per field.
		for (const Field &field : frame.fields) {
			TestPacket mutated = base;
			Frame copy = frame;
			mutate_field(copy, field);
			mutated.frame = copy.bytes;
			mutated.origin += ", field at " + std::to_string(field.offset) + " mutated";
			mutated.mutated = true;
			queue.push_back(std::move(mutated));
		}
	} else if (r < 0.925) {
		// Cut at every offset.
		std::size_t len = frame.bytes.size();
		for (std::size_t n = 0; n < len; n++) {
			if (n > kFullCutLength && !chance(0.05))
				continue;
			TestPacket cut = base;
			cut.frame.resize(n);
			cut.origin += ", cut to " + std::to_string(n) + " bytes";
			cut.mutated = true;
			queue.push_back(std::move(cut));
		}
	} else if (r < 0.965) {
		TestPacket mutated = base;
		for (std::uint32_t i = 0, n = 1 + below(4); i < n; i++)
			mutated.frame[below(static_cast<std::uint32_t>(mutated.frame.size()))] =
				static_cast<std::uint8_t>(rng_());
		mutated.origin += ", random bytes changed";
		mutated.mutated = true;
		queue.push_back(std::move(mutated));
	} else {
		// Ethernet padding, or a datagram whose IP length stops short of
		// the frame.
		TestPacket padded = base;
		Bytes pad = chance(0.5) ? Bytes(1 + below(40), 0) : random_bytes(1 + below(40));
		padded.frame.insert(padded.frame.end(), pad.begin(), pad.end());
		padded.origin += ", padded by " + std::to_string(pad.size());
		padded.mutated = true;
		queue.push_back(std::move(padded));
	}
}

std::uint32_t Generator::interesting_value(const Field &field, std::uint32_t current)
{
	auto one_of = [&](std::vector<std::uint32_t> values) { return values[below(static_cast<std::uint32_t>(values.size()))]; };
	if (chance(0.15))
		return static_cast<std::uint32_t>(rng_());
	if (chance(0.1))
		return current ^ (1u << below(field.size * 8u));

	switch (field.kind) {
	case FieldKind::ether_type:
		return one_of({0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x9100, 0x0000, 0x05dc, 0xffff});
	case FieldKind::ipv4_version_ihl:
		return one_of({0x45, 0x44, 0x40, 0x46, 0x47, 0x4f, 0x55, 0x65, 0x35, 0x05});
	case FieldKind::ipv4_total_length:
	case FieldKind::ipv6_payload_length:
	case FieldKind::udp_length:
		return one_of({0, 1, 8, 19, 20, 40, current - 1, current + 1, current - 8, current + 8, current - 20,
			       current + 40, 0xffff});
	case FieldKind::ipv4_fragment:
		return one_of({0, 0x2000, 0x4000, 0x0001, 0x2001, 0x1fff, 0x3fff, 0x6000, 0x8000});
	case FieldKind::ipv4_ttl:
	case FieldKind::ipv6_hop_limit:
		return one_of({0, 1, 2, 64, 254, 255});
	case FieldKind::ipv4_protocol:
	case FieldKind::ipv6_next_header:
	case FieldKind::extension_next_header:
		return one_of({0, 1, 4, 6, 17, 41, 43, 44, 47, 50, 51, 58, 59, 60, 132, 135, 255});
	case FieldKind::ipv4_option:
		return one_of({0, 1, 7, 68, 130, 131, 137, 148});
	case FieldKind::ipv6_version_class:
		return one_of({0x6000, 0x4000, 0x0000, 0x7000, 0x6fff});
	case FieldKind::extension_length:
		return one_of({0, 1, 2, 3, 7, 255});
	case FieldKind::ipv6_fragment_field:
		return one_of({0, 1, 8, 9, 0xfff8, 0xfff9, 0x0006});
	case FieldKind::port: {
		if (chance(0.3))
			return pick(endpoints_.service_ports);
		return one_of({0, 1, 22, 53, 67, 68, 80, 123, 443, 546, 547, 5000, 8443, 9100, 65535, current - 1,
			       current + 1, kEphemeralBase + below(kEphemeralCount)});
	}
	case FieldKind::tcp_offset:
		return one_of({0x00, 0x10, 0x40, 0x50, 0x60, 0x80, 0xf0});
	case FieldKind::tcp_flags:
		return one_of({0x02, 0x12, 0x10, 0x01, 0x04, 0x14, 0x11, 0x03, 0x06, 0xff, 0x00});
	case FieldKind::icmp_type:
		return one_of({0, 3, 4, 5, 8, 11, 12, 13, 1, 2, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 143, 255});
	case FieldKind::icmp_code:
		return one_of({0, 1, 3, 4});
	case FieldKind::icmp_rest:
		return one_of({0, current - 1, current + 1, 0x4200 + below(8)});
	case FieldKind::ipv4_address: {
		Address a = pick_family(chance(0.5) ? endpoints_.remotes : endpoints_.host_uplink, 4);
		if (chance(0.3))
			a = pick_family(endpoints_.bridge_targets, 4);
		return static_cast<std::uint32_t>(a[12]) << 24 | a[13] << 16 | a[14] << 8 | a[15];
	}
	default:
		return one_of({0, 0xffffffff, current + 1});
	}
}

void Generator::mutate_field(Frame &frame, const Field &field)
{
	Bytes &b = frame.bytes;
	if (field.size == 16) {
		Address a;
		double r = std::uniform_real_distribution<double>(0, 1)(rng_);
		if (r < 0.3) {
			a = pick_family(chance(0.5) ? endpoints_.remotes : endpoints_.host_uplink, 6);
		} else if (r < 0.45) {
			// An IPv4 peer's address, IPv4-mapped.
			a = pick_family(chance(0.5) ? endpoints_.remotes : endpoints_.host_uplink, 4);
		} else if (r < 0.6) {
			a = pick_family(chance(0.5) ? endpoints_.bridge_targets : endpoints_.containers, 6);
		} else if (r < 0.75) {
			a = parse_address(pick(std::vector<const char *>{"::", "::1", "ff02::1", "fe80::1", "ff02::16"}));
		} else {
			std::copy(b.begin() + field.offset, b.begin() + field.offset + 16, a.begin());
			a[below(16)] ^= static_cast<std::uint8_t>(1u << below(8));
		}
		std::copy(a.begin(), a.end(), b.begin() + field.offset);
		return;
	}

	std::uint32_t current = 0;
	for (std::size_t i = 0; i < field.size; i++)
		current = current << 8 | b[field.offset + i];
	std::uint32_t value = interesting_value(field, current);
	for (std::size_t i = 0; i < field.size; i++)
		b[field.offset + i] = static_cast<std::uint8_t>(value >> (8 * (field.size - 1 - i)));
}

void Generator::learn(const Outcome &outcome)
{
	if (!outcome.flow_write)
		return;
	const FlowKey &key = outcome.flow_write->first;
	if (flows_.size() < kMaxTrackedFlows)
		flows_.push_back(key);
	else
		flows_[below(kMaxTrackedFlows)] = key;
}

} // namespace model
