// agprobe: echo servers and clients with bounded timeouts, for the network
// namespace tests and the demo. A client exits 0 only after a full echo round
// trip, so "passes" always means data went both ways. Every ADDR is IPv4 or
// IPv6; the address decides the family.
//
//   agprobe listen [--pid-file FILE] ADDR SPEC...   SPEC is tcp/PORT, udp/PORT or sink/PORT
//   agprobe connect tcp|udp ADDR PORT [--timeout-ms N] [--from ADDR] [--sport PORT]
//   agprobe send udp ADDR PORT [--count N] [--from ADDR] [--sport PORT]
//   agprobe keep tcp ADDR PORT [--timeout-ms N] [--from ADDR] [--sport PORT]
//   agprobe accept tcp ADDR PORT [--timeout-ms N]
//   agprobe flood udp ADDR PORT --count N --interval-us U [--timeout-ms N] [--from ADDR] [--sport PORT]
//   agprobe bulk tcp ADDR PORT --bytes N [--timeout-ms N] [--from ADDR] [--sport PORT]
//   agprobe icmp-error ADDR --quote SRC DST tcp|udp SPORT DPORT [--mtu N] [--from ADDR]
//
// Exit codes of connect, keep, flood and bulk:
//   0  the echo round trip worked (flood: every datagram was echoed; bulk:
//      the sink received every byte)
//   3  timed out: nothing (flood: not everything) came back
//   4  refused: a TCP reset or an ICMP port unreachable came back
//   5  unreachable: an ICMP host or network unreachable, or no route
//   1  any other error; 2 invalid arguments
//
// listen binds every socket first and, with --pid-file, then forks: the
// command returns once the server accepts, and FILE contains the server's PID.
// tcp/ and udp/ listeners echo. A sink/ listener is a TCP server for bulk:
// it reads until the client shuts down its sending side, then replies
// "received N" with the byte count and closes.
//
// keep opens one connection and prints "ready" after a first round trip.
// accept waits for one connection, prints "listening" once it listens and
// "ready" after echoing the client's first line. Then both read commands from
// stdin, one a line, and print one result line for each:
//   exchange  send a line and wait for its echo: "ok", "timeout", "closed" or "error TEXT"
//   send      send a line and wait for nothing: "sent" or "error TEXT"
//   expect    wait for one line from the peer: "ok", "timeout", "closed" or "error TEXT"
// keep and accept together give a connection on which either side can send
// first, which is how a test sends a packet in one chosen direction.
//
// flood sends COUNT datagrams, one every U microseconds, each with its
// sequence number, counts the echoes and prints "sent S echoed E of COUNT",
// plus the missing sequence numbers when some were not echoed.
//
// icmp-error sends, from a raw socket, an ICMP "fragmentation needed" (to an
// IPv4 ADDR) or an ICMPv6 "packet too big" (to an IPv6 ADDR) that quotes a
// packet SRC -> DST with the given ports, as a router on the path would.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

// Exit codes of the clients. They separate a silent drop (nothing comes back)
// from a reply that rejects the connection (a TCP reset or an ICMP error).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTimedOut = 3;
constexpr int kExitRefused = 4;
constexpr int kExitUnreachable = 5;

constexpr int kDefaultTimeoutMs = 1500;
// UDP has no retransmission: the client repeats its datagram this often until
// an echo arrives or the timeout ends.
constexpr int kUdpResendMs = 300;
// flood lists at most this many missing ranges, so that a total loss prints
// one line, not thousands.
constexpr std::size_t kMaxMissingRanges = 20;

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage_error(const std::string &message)
{
	std::fprintf(stderr, "agprobe: %s\n", message.c_str());
	std::fprintf(stderr,
		     "usage: agprobe listen [--pid-file FILE] ADDR tcp/PORT|udp/PORT|sink/PORT...\n"
		     "       agprobe connect tcp|udp ADDR PORT [--timeout-ms N] [--from ADDR] [--sport PORT]\n"
		     "       agprobe send udp ADDR PORT [--count N] [--from ADDR] [--sport PORT]\n"
		     "       agprobe keep tcp ADDR PORT [--timeout-ms N] [--from ADDR] [--sport PORT]\n"
		     "       agprobe accept tcp ADDR PORT [--timeout-ms N]\n"
		     "       agprobe flood udp ADDR PORT --count N --interval-us U [--timeout-ms N] [--from ADDR]"
		     " [--sport PORT]\n"
		     "       agprobe bulk tcp ADDR PORT --bytes N [--timeout-ms N] [--from ADDR] [--sport PORT]\n"
		     "       agprobe icmp-error ADDR --quote SRC DST tcp|udp SPORT DPORT [--mtu N] [--from ADDR]\n");
	std::exit(kExitUsage);
}

[[noreturn]] void fatal(const std::string &what, int err)
{
	std::fprintf(stderr, "agprobe: %s: %s\n", what.c_str(), std::strerror(err));
	std::exit(kExitError);
}

long parse_number(const std::string &text, long min, long max, const char *what)
{
	char *end = nullptr;
	errno = 0;
	long value = std::strtol(text.c_str(), &end, 10);
	if (errno || end == text.c_str() || *end || value < min || value > max)
		usage_error("invalid " + std::string(what) + " '" + text + "': expected " + std::to_string(min) +
			    ".." + std::to_string(max));
	return value;
}

int parse_proto(const std::string &text)
{
	if (text == "tcp")
		return SOCK_STREAM;
	if (text == "udp")
		return SOCK_DGRAM;
	usage_error("invalid protocol '" + text + "': expected tcp or udp");
}

// An IPv4 or IPv6 socket address.
struct Endpoint {
	sockaddr_storage storage{};
	socklen_t len = 0;

	int family() const { return storage.ss_family; }
	sockaddr *sa() { return reinterpret_cast<sockaddr *>(&storage); }
	const sockaddr *sa() const { return reinterpret_cast<const sockaddr *>(&storage); }
};

Endpoint parse_endpoint(const std::string &addr, int port)
{
	Endpoint endpoint;
	auto *v4 = reinterpret_cast<sockaddr_in *>(&endpoint.storage);
	auto *v6 = reinterpret_cast<sockaddr_in6 *>(&endpoint.storage);
	if (inet_pton(AF_INET, addr.c_str(), &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(static_cast<uint16_t>(port));
		endpoint.len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, addr.c_str(), &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(static_cast<uint16_t>(port));
		endpoint.len = sizeof(*v6);
	} else {
		usage_error("invalid address '" + addr + "': expected IPv4 or IPv6");
	}
	return endpoint;
}

std::string endpoint_text(int type, const Endpoint &endpoint)
{
	char text[INET6_ADDRSTRLEN] = {};
	int port;
	std::string addr;
	if (endpoint.family() == AF_INET6) {
		auto *v6 = reinterpret_cast<const sockaddr_in6 *>(&endpoint.storage);
		inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
		addr = std::string("[") + text + "]";
		port = ntohs(v6->sin6_port);
	} else {
		auto *v4 = reinterpret_cast<const sockaddr_in *>(&endpoint.storage);
		inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
		addr = text;
		port = ntohs(v4->sin_port);
	}
	return std::string(type == SOCK_STREAM ? "tcp " : "udp ") + addr + ":" + std::to_string(port);
}

int remaining_ms(Clock::time_point deadline)
{
	auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
	return left > 0 ? static_cast<int>(left) : 0;
}

// Map a socket error to an exit code: a reset or an ICMP error means that the
// peer or a router replied.
int exit_for_error(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ECONNRESET:
		return kExitRefused;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return kExitUnreachable;
	default:
		return kExitError;
	}
}

struct ClientOptions {
	int type = SOCK_STREAM;
	Endpoint remote;
	std::optional<std::string> from;
	int sport = 0;
	int timeout_ms = kDefaultTimeoutMs;
	long count = 1;
	long interval_us = 0;
	long bytes = 0;
};

// Which options a command takes besides --timeout-ms, --from and --sport.
enum class ClientKind { connect, send, flood, bulk };

// Parse PROTO ADDR PORT and the options of a client command.
ClientOptions parse_client(const std::vector<std::string> &args, ClientKind kind)
{
	if (args.size() < 3)
		usage_error("expected PROTO ADDR PORT");
	ClientOptions options;
	options.type = parse_proto(args[0]);
	if ((kind == ClientKind::send || kind == ClientKind::flood) && options.type != SOCK_DGRAM)
		usage_error("send and flood send udp only");
	if (kind == ClientKind::bulk && options.type != SOCK_STREAM)
		usage_error("bulk sends tcp only");
	options.remote = parse_endpoint(args[1], static_cast<int>(parse_number(args[2], 1, 65535, "port")));
	if (kind == ClientKind::bulk)
		options.timeout_ms = 30000;
	for (std::size_t i = 3; i < args.size(); i++) {
		const std::string &flag = args[i];
		if (i + 1 >= args.size())
			usage_error("option " + flag + " needs a value");
		const std::string &value = args[++i];
		if (flag == "--timeout-ms")
			options.timeout_ms = static_cast<int>(parse_number(value, 1, 600000, "timeout"));
		else if (flag == "--from")
			options.from = value;
		else if (flag == "--sport")
			options.sport = static_cast<int>(parse_number(value, 1, 65535, "source port"));
		else if (flag == "--count" && (kind == ClientKind::send || kind == ClientKind::flood))
			options.count = parse_number(value, 1, 1000000, "count");
		else if (flag == "--interval-us" && kind == ClientKind::flood)
			options.interval_us = parse_number(value, 0, 10000000, "interval");
		else if (flag == "--bytes" && kind == ClientKind::bulk)
			options.bytes = parse_number(value, 1, 1L << 30, "byte count");
		else
			usage_error("unknown option " + flag);
	}
	if (kind == ClientKind::bulk && options.bytes == 0)
		usage_error("bulk needs --bytes");
	return options;
}

bool is_limited_broadcast(const Endpoint &endpoint)
{
	return endpoint.family() == AF_INET &&
	       reinterpret_cast<const sockaddr_in *>(endpoint.sa())->sin_addr.s_addr == htonl(INADDR_BROADCAST);
}

// Create a client socket bound to the requested source, connected (UDP) or
// with a non-blocking connect started (TCP). A UDP socket for the limited
// broadcast stays unconnected, because its replies come from a unicast
// address, as a DHCP server's do.
int open_client(const ClientOptions &options)
{
	int family = options.remote.family();
	int fd = socket(family, options.type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fatal("socket", errno);
	if (options.from || options.sport) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		Endpoint local = parse_endpoint(options.from.value_or(family == AF_INET6 ? "::" : "0.0.0.0"),
						options.sport);
		if (local.family() != family)
			usage_error("--from " + *options.from + " is not of the remote address's family");
		if (bind(fd, local.sa(), local.len))
			fatal("bind to " + endpoint_text(options.type, local), errno);
	}
	if (options.type == SOCK_DGRAM && is_limited_broadcast(options.remote)) {
		int one = 1;
		if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)))
			fatal("setsockopt SO_BROADCAST", errno);
		return fd;
	}
	if (connect(fd, options.remote.sa(), options.remote.len) && errno != EINPROGRESS) {
		int err = errno;
		std::fprintf(stderr, "agprobe: %s: %s\n", endpoint_text(options.type, options.remote).c_str(),
			     std::strerror(err));
		std::exit(exit_for_error(err));
	}
	return fd;
}

// Finish a TCP connect. Returns 0, or the exit code after printing why.
int wait_connected(int fd, const ClientOptions &options, Clock::time_point deadline)
{
	pollfd pfd{fd, POLLOUT, 0};
	int ready = poll(&pfd, 1, remaining_ms(deadline));
	if (ready < 0)
		fatal("poll", errno);
	std::string target = endpoint_text(options.type, options.remote);
	if (ready == 0) {
		std::fprintf(stderr, "agprobe: %s: timed out after %d ms: no reply to the connection request\n",
			     target.c_str(), options.timeout_ms);
		return kExitTimedOut;
	}
	int err = 0;
	socklen_t len = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		std::fprintf(stderr, "agprobe: %s: %s\n", target.c_str(), std::strerror(err));
		return exit_for_error(err);
	}
	return 0;
}

// Outcome of waiting for bytes from the peer.
enum class EchoResult { ok, timeout, closed, error };

// Read until `expected` (the bytes sent and not yet echoed) has come back, or
// the deadline passes. Bytes that arrive are removed from `expected`, so a
// late echo of an earlier exchange is consumed by the next wait.
EchoResult wait_stream_echo(int fd, std::string &expected, Clock::time_point deadline, int &err)
{
	char buf[4096];
	while (!expected.empty()) {
		pollfd pfd{fd, POLLIN, 0};
		int ready = poll(&pfd, 1, remaining_ms(deadline));
		if (ready < 0) {
			err = errno;
			return EchoResult::error;
		}
		if (ready == 0)
			return EchoResult::timeout;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			return EchoResult::closed;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			err = errno;
			return EchoResult::error;
		}
		if (expected.compare(0, static_cast<std::size_t>(n), buf, static_cast<std::size_t>(n)) != 0) {
			err = EBADMSG;
			return EchoResult::error;
		}
		expected.erase(0, static_cast<std::size_t>(n));
	}
	return EchoResult::ok;
}

// Read one line from the peer, whatever it contains. Reads one byte at a time
// so that nothing after the newline is consumed.
EchoResult wait_line(int fd, std::string &line, Clock::time_point deadline, int &err)
{
	line.clear();
	while (true) {
		pollfd pfd{fd, POLLIN, 0};
		int ready = poll(&pfd, 1, remaining_ms(deadline));
		if (ready < 0) {
			err = errno;
			return EchoResult::error;
		}
		if (ready == 0)
			return EchoResult::timeout;
		char c;
		ssize_t n = recv(fd, &c, 1, 0);
		if (n == 0)
			return EchoResult::closed;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			err = errno;
			return EchoResult::error;
		}
		line += c;
		if (c == '\n')
			return EchoResult::ok;
	}
}

bool send_all(int fd, const char *data, std::size_t size, Clock::time_point deadline, int &err)
{
	std::size_t sent = 0;
	while (sent < size) {
		ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += static_cast<std::size_t>(n);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			err = errno;
			return false;
		}
		pollfd pfd{fd, POLLOUT, 0};
		if (poll(&pfd, 1, remaining_ms(deadline)) <= 0) {
			err = ETIMEDOUT;
			return false;
		}
	}
	return true;
}

bool send_all(int fd, const std::string &data, Clock::time_point deadline, int &err)
{
	return send_all(fd, data.data(), data.size(), deadline, err);
}

std::string payload(const char *tag)
{
	return std::string("agprobe ") + tag + " " + std::to_string(getpid()) + " " +
	       std::to_string(Clock::now().time_since_epoch().count()) + "\n";
}

int report_stream(EchoResult result, int err, const std::string &target, int timeout_ms)
{
	switch (result) {
	case EchoResult::ok:
		return kExitOk;
	case EchoResult::timeout:
		std::fprintf(stderr, "agprobe: %s: connected, but timed out after %d ms waiting for the echo\n", target.c_str(),
			     timeout_ms);
		return kExitTimedOut;
	case EchoResult::closed:
		std::fprintf(stderr, "agprobe: %s: the peer closed the connection before echoing\n",
			     target.c_str());
		return kExitRefused;
	case EchoResult::error:
		break;
	}
	std::fprintf(stderr, "agprobe: %s: %s\n", target.c_str(), std::strerror(err));
	return exit_for_error(err);
}

int connect_tcp(const ClientOptions &options)
{
	auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
	int fd = open_client(options);
	if (int rc = wait_connected(fd, options, deadline))
		return rc;
	std::string target = endpoint_text(options.type, options.remote);
	std::string expected = payload("tcp");
	int err = 0;
	if (!send_all(fd, expected, deadline, err))
		return report_stream(EchoResult::error, err, target, options.timeout_ms);
	EchoResult result = wait_stream_echo(fd, expected, deadline, err);
	return report_stream(result, err, target, options.timeout_ms);
}

int connect_udp(const ClientOptions &options)
{
	auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
	int fd = open_client(options);
	std::string target = endpoint_text(options.type, options.remote);
	std::string message = payload("udp");
	char buf[2048];
	while (true) {
		// Errors of send() are ignored: a datagram the host cannot send is
		// a datagram that gets no echo, which the timeout reports.
		(void)sendto(fd, message.data(), message.size(), 0, options.remote.sa(), options.remote.len);
		auto resend_at = Clock::now() + std::chrono::milliseconds(kUdpResendMs);
		auto wake = resend_at < deadline ? resend_at : deadline;
		while (true) {
			pollfd pfd{fd, POLLIN, 0};
			int ready = poll(&pfd, 1, remaining_ms(wake));
			if (ready < 0)
				fatal("poll", errno);
			if (ready == 0)
				break;
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				int err = errno;
				std::fprintf(stderr, "agprobe: %s: %s\n", target.c_str(), std::strerror(err));
				return exit_for_error(err);
			}
			if (n > 0 && message.compare(0, std::string::npos, buf, static_cast<std::size_t>(n)) == 0)
				return kExitOk;
		}
		// remaining_ms() rounds down, so stop at the last whole millisecond
		// rather than resending in a loop until the clock reaches deadline.
		if (remaining_ms(deadline) == 0)
			break;
	}
	std::fprintf(stderr, "agprobe: %s: timed out after %d ms: no echo\n", target.c_str(), options.timeout_ms);
	return kExitTimedOut;
}

int run_connect(const std::vector<std::string> &args)
{
	ClientOptions options = parse_client(args, ClientKind::connect);
	return options.type == SOCK_STREAM ? connect_tcp(options) : connect_udp(options);
}

// Send datagrams and expect nothing back: for counting drops and passes. The
// output gives the UDP payload size, so that a test can compute byte counters.
int run_send(const std::vector<std::string> &args)
{
	ClientOptions options = parse_client(args, ClientKind::send);
	int fd = open_client(options);
	std::string message = payload("send");
	long sent = 0;
	for (long i = 0; i < options.count; i++) {
		if (sendto(fd, message.data(), message.size(), 0, options.remote.sa(), options.remote.len) ==
		    static_cast<ssize_t>(message.size()))
			sent++;
	}
	std::printf("sent %ld of %ld datagrams of %zu bytes to %s\n", sent, options.count, message.size(),
		    endpoint_text(options.type, options.remote).c_str());
	return sent == options.count ? kExitOk : kExitError;
}

// Print "missing: A-B C ..." for the sequence numbers without an echo.
void print_missing(const std::vector<bool> &echoed)
{
	std::string text;
	std::size_t ranges = 0;
	std::size_t i = 0;
	while (i < echoed.size()) {
		if (echoed[i]) {
			i++;
			continue;
		}
		std::size_t first = i;
		while (i < echoed.size() && !echoed[i])
			i++;
		if (++ranges > kMaxMissingRanges) {
			text += " ...";
			break;
		}
		text += " " + std::to_string(first);
		if (i - 1 > first)
			text += "-" + std::to_string(i - 1);
	}
	std::printf("missing:%s\n", text.c_str());
}

// Record the echo of one flood datagram, "agprobe flood PID SEQ".
void record_flood_echo(const char *buf, ssize_t n, const std::string &prefix, std::vector<bool> &echoed,
		       long &echo_count)
{
	std::string text(buf, static_cast<std::size_t>(n));
	if (text.compare(0, prefix.size(), prefix) != 0)
		return;
	char *end = nullptr;
	long seq = std::strtol(text.c_str() + prefix.size(), &end, 10);
	if (seq < 0 || seq >= static_cast<long>(echoed.size()) || echoed[static_cast<std::size_t>(seq)])
		return;
	echoed[static_cast<std::size_t>(seq)] = true;
	echo_count++;
}

// Send COUNT numbered datagrams at a steady rate and count their echoes.
int run_flood(const std::vector<std::string> &args)
{
	ClientOptions options = parse_client(args, ClientKind::flood);
	int fd = open_client(options);
	std::string target = endpoint_text(options.type, options.remote);
	std::string prefix = "agprobe flood " + std::to_string(getpid()) + " ";
	std::vector<bool> echoed(static_cast<std::size_t>(options.count), false);
	long sent = 0;
	long echo_count = 0;
	int first_error = 0;
	char buf[2048];

	auto interval = std::chrono::microseconds(options.interval_us);
	auto start = Clock::now();
	auto drain = [&](int wait_ms) {
		pollfd pfd{fd, POLLIN, 0};
		int ready = poll(&pfd, 1, wait_ms);
		if (ready < 0 && errno != EINTR)
			fatal("poll", errno);
		while (ready > 0) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR && !first_error)
					first_error = errno;
				break;
			}
			record_flood_echo(buf, n, prefix, echoed, echo_count);
		}
	};

	for (long seq = 0; seq < options.count; seq++) {
		auto due = start + interval * seq;
		while (Clock::now() < due) {
			auto wait_us = std::chrono::duration_cast<std::chrono::microseconds>(due - Clock::now()).count();
			drain(static_cast<int>(wait_us / 1000));
			if (wait_us < 1000)
				break;
		}
		std::string message = prefix + std::to_string(seq) + "\n";
		if (sendto(fd, message.data(), message.size(), 0, options.remote.sa(), options.remote.len) ==
		    static_cast<ssize_t>(message.size()))
			sent++;
		else if (!first_error)
			first_error = errno;
		drain(0);
	}
	auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
	while (echo_count < sent && remaining_ms(deadline) > 0)
		drain(remaining_ms(deadline));

	std::printf("sent %ld echoed %ld of %ld datagrams to %s\n", sent, echo_count, options.count, target.c_str());
	if (first_error)
		std::printf("first socket error: %s\n", std::strerror(first_error));
	if (echo_count == options.count)
		return kExitOk;
	print_missing(echoed);
	return kExitTimedOut;
}

// Send BYTES bytes to a sink/ listener and check the count it replies.
int run_bulk(const std::vector<std::string> &args)
{
	ClientOptions options = parse_client(args, ClientKind::bulk);
	auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
	int fd = open_client(options);
	if (int rc = wait_connected(fd, options, deadline))
		return rc;
	std::string target = endpoint_text(options.type, options.remote);

	std::vector<char> chunk(65536);
	for (std::size_t i = 0; i < chunk.size(); i++)
		chunk[i] = static_cast<char>('a' + i % 26);
	long left = options.bytes;
	int err = 0;
	while (left > 0) {
		std::size_t size = left < static_cast<long>(chunk.size()) ? static_cast<std::size_t>(left) : chunk.size();
		if (!send_all(fd, chunk.data(), size, deadline, err)) {
			std::fprintf(stderr, "agprobe: %s: sent %ld of %ld bytes, then: %s\n", target.c_str(),
				     options.bytes - left, options.bytes, std::strerror(err));
			return err == ETIMEDOUT ? kExitTimedOut : exit_for_error(err);
		}
		left -= static_cast<long>(size);
	}
	shutdown(fd, SHUT_WR);

	std::string line;
	EchoResult result = wait_line(fd, line, deadline, err);
	if (result != EchoResult::ok) {
		std::fprintf(stderr, "agprobe: %s: sent %ld bytes, but got no count back from the sink\n",
			     target.c_str(), options.bytes);
		return report_stream(result, err, target, options.timeout_ms);
	}
	std::string expected = "received " + std::to_string(options.bytes) + "\n";
	if (line != expected) {
		std::fprintf(stderr, "agprobe: %s: sent %ld bytes, but the sink replied '%s'\n", target.c_str(),
			     options.bytes, line.substr(0, line.find('\n')).c_str());
		return kExitError;
	}
	std::printf("sent %ld bytes to %s; the sink received all of them\n", options.bytes, target.c_str());
	return kExitOk;
}

// Run the stdin commands of keep and accept on a connected socket.
void run_session_commands(int fd, int timeout_ms, std::string &expected)
{
	char line[256];
	while (std::fgets(line, sizeof(line), stdin)) {
		std::string command(line);
		while (!command.empty() && (command.back() == '\n' || command.back() == '\r'))
			command.pop_back();
		auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
		int err = 0;
		EchoResult result;
		if (command == "send") {
			if (send_all(fd, payload("push"), deadline, err))
				std::printf("sent\n");
			else
				std::printf("error %s\n", std::strerror(err));
			continue;
		}
		if (command == "expect") {
			std::string received;
			result = wait_line(fd, received, deadline, err);
		} else if (command == "exchange") {
			std::string message = payload("keep");
			expected += message;
			result = send_all(fd, message, deadline, err) ? wait_stream_echo(fd, expected, deadline, err)
								      : EchoResult::error;
		} else {
			std::printf("error unknown command '%s': expected exchange, send or expect\n", command.c_str());
			continue;
		}
		switch (result) {
		case EchoResult::ok:
			std::printf("ok\n");
			break;
		case EchoResult::timeout:
			std::printf("timeout\n");
			break;
		case EchoResult::closed:
			std::printf("closed\n");
			break;
		case EchoResult::error:
			std::printf("error %s\n", std::strerror(err));
			break;
		}
	}
}

int run_keep(const std::vector<std::string> &args)
{
	ClientOptions options = parse_client(args, ClientKind::connect);
	if (options.type != SOCK_STREAM)
		usage_error("keep needs tcp");
	std::string target = endpoint_text(options.type, options.remote);
	std::setvbuf(stdout, nullptr, _IOLBF, 0);

	auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
	int fd = open_client(options);
	if (int rc = wait_connected(fd, options, deadline)) {
		std::printf("error\n");
		return rc;
	}
	std::string expected = payload("keep");
	int err = 0;
	EchoResult result = send_all(fd, expected, deadline, err) ? wait_stream_echo(fd, expected, deadline, err)
								  : EchoResult::error;
	if (result != EchoResult::ok) {
		std::printf("error\n");
		return report_stream(result, err, target, options.timeout_ms);
	}
	std::printf("ready\n");
	run_session_commands(fd, options.timeout_ms, expected);
	return kExitOk;
}

// Serve one connection under the control of stdin; see the file comment.
int run_accept(const std::vector<std::string> &args)
{
	ClientOptions options = parse_client(args, ClientKind::connect);
	if (options.type != SOCK_STREAM || options.from || options.sport)
		usage_error("accept takes tcp ADDR PORT [--timeout-ms N]");
	std::string target = endpoint_text(options.type, options.remote);
	std::setvbuf(stdout, nullptr, _IOLBF, 0);

	int listener = socket(options.remote.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listener < 0)
		fatal("socket", errno);
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (options.remote.family() == AF_INET6)
		setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(listener, options.remote.sa(), options.remote.len))
		fatal("bind to " + target, errno);
	if (listen(listener, 1))
		fatal("listen on " + target, errno);
	std::printf("listening\n");

	// The test starts the client after "listening", so the wait for it is
	// longer than one exchange: it covers the client's start.
	auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms) + std::chrono::seconds(10);
	pollfd pfd{listener, POLLIN, 0};
	if (poll(&pfd, 1, remaining_ms(deadline)) <= 0) {
		std::printf("error no connection on %s\n", target.c_str());
		return kExitTimedOut;
	}
	int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		fatal("accept on " + target, errno);
	close(listener);

	std::string first;
	int err = 0;
	EchoResult result = wait_line(fd, first, deadline, err);
	if (result == EchoResult::ok && !send_all(fd, first, deadline, err))
		result = EchoResult::error;
	if (result != EchoResult::ok) {
		std::printf("error\n");
		return report_stream(result, err, target, options.timeout_ms);
	}
	std::printf("ready\n");
	std::string expected;
	run_session_commands(fd, options.timeout_ms, expected);
	return kExitOk;
}

uint16_t internet_checksum(const uint8_t *data, std::size_t size)
{
	uint32_t sum = 0;
	for (std::size_t i = 0; i + 1 < size; i += 2)
		sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
	if (size % 2)
		sum += static_cast<uint32_t>(data[size - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return static_cast<uint16_t>(~sum);
}

void put16(std::vector<uint8_t> &out, std::size_t at, uint16_t value)
{
	out[at] = static_cast<uint8_t>(value >> 8);
	out[at + 1] = static_cast<uint8_t>(value);
}

void put32(std::vector<uint8_t> &out, std::size_t at, uint32_t value)
{
	put16(out, at, static_cast<uint16_t>(value >> 16));
	put16(out, at + 2, static_cast<uint16_t>(value));
}

// Send an ICMP "fragmentation needed" or ICMPv6 "packet too big" quoting a
// packet the receiver supposedly sent. The quoted packet is a full-size
// (1500-byte) TCP or UDP packet cut after its first 8 L4 bytes, which is what
// RFC 792 asks a router to quote at least.
int run_icmp_error(const std::vector<std::string> &args)
{
	if (args.size() < 7 || args[1] != "--quote")
		usage_error("expected ADDR --quote SRC DST tcp|udp SPORT DPORT");
	Endpoint to = parse_endpoint(args[0], 0);
	Endpoint src = parse_endpoint(args[2], 0);
	Endpoint dst = parse_endpoint(args[3], 0);
	if (src.family() != to.family() || dst.family() != to.family())
		usage_error("the quoted addresses must be of ADDR's family");
	int l4 = parse_proto(args[4]) == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
	auto sport = static_cast<uint16_t>(parse_number(args[5], 1, 65535, "source port"));
	auto dport = static_cast<uint16_t>(parse_number(args[6], 1, 65535, "destination port"));
	long mtu = 1280;
	std::optional<std::string> from;
	for (std::size_t i = 7; i < args.size(); i++) {
		if (i + 1 >= args.size())
			usage_error("option " + args[i] + " needs a value");
		if (args[i] == "--mtu")
			mtu = parse_number(args[++i], 68, 65535, "MTU");
		else if (args[i] == "--from")
			from = args[++i];
		else
			usage_error("unknown option " + args[i]);
	}

	bool v6 = to.family() == AF_INET6;
	constexpr std::size_t kIcmpHeader = 8;
	constexpr std::size_t kQuotedL4 = 8;
	constexpr uint16_t kQuotedTotal = 1500;
	std::size_t ip_header = v6 ? 40 : 20;
	std::vector<uint8_t> msg(kIcmpHeader + ip_header + kQuotedL4, 0);

	uint8_t *quoted = msg.data() + kIcmpHeader;
	if (v6) {
		msg[0] = 2; // packet too big
		put32(msg, 4, static_cast<uint32_t>(mtu));
		quoted[0] = 0x60;
		put16(msg, kIcmpHeader + 4, kQuotedTotal - 40);
		quoted[6] = static_cast<uint8_t>(l4);
		quoted[7] = 64;
		std::memcpy(quoted + 8, &reinterpret_cast<sockaddr_in6 *>(src.sa())->sin6_addr, 16);
		std::memcpy(quoted + 24, &reinterpret_cast<sockaddr_in6 *>(dst.sa())->sin6_addr, 16);
	} else {
		msg[0] = 3; // destination unreachable
		msg[1] = 4; // fragmentation needed and DF set
		put16(msg, 6, static_cast<uint16_t>(mtu));
		quoted[0] = 0x45;
		put16(msg, kIcmpHeader + 2, kQuotedTotal);
		put16(msg, kIcmpHeader + 6, 0x4000); // DF
		quoted[8] = 64;
		quoted[9] = static_cast<uint8_t>(l4);
		std::memcpy(quoted + 12, &reinterpret_cast<sockaddr_in *>(src.sa())->sin_addr, 4);
		std::memcpy(quoted + 16, &reinterpret_cast<sockaddr_in *>(dst.sa())->sin_addr, 4);
		put16(msg, kIcmpHeader + 10, internet_checksum(quoted, ip_header));
	}
	put16(msg, kIcmpHeader + ip_header, sport);
	put16(msg, kIcmpHeader + ip_header + 2, dport);
	// The kernel computes the ICMPv6 checksum of a raw socket itself
	// (RFC 3542), but not the ICMPv4 one.
	if (!v6)
		put16(msg, 2, internet_checksum(msg.data(), msg.size()));

	int fd = socket(to.family(), SOCK_RAW | SOCK_CLOEXEC, v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
	if (fd < 0)
		fatal("raw socket", errno);
	if (from) {
		Endpoint local = parse_endpoint(*from, 0);
		if (bind(fd, local.sa(), local.len))
			fatal("bind to " + *from, errno);
	}
	if (sendto(fd, msg.data(), msg.size(), 0, to.sa(), to.len) != static_cast<ssize_t>(msg.size()))
		fatal("send to " + args[0], errno);
	std::printf("sent %s to %s quoting %s %s:%u -> %s:%u\n",
		    v6 ? "ICMPv6 packet too big" : "ICMP fragmentation needed", args[0].c_str(), args[4].c_str(),
		    args[2].c_str(), sport, args[3].c_str(), dport);
	return kExitOk;
}

// What a socket of the echo server is.
enum class ServerSocket { tcp_listener, sink_listener, udp, echo_connection, sink_connection };

struct Listener {
	int fd;
	ServerSocket kind;
};

Listener open_listener(const std::string &addr, const std::string &spec)
{
	auto slash = spec.find('/');
	if (slash == std::string::npos)
		usage_error("invalid listener '" + spec + "': expected tcp/PORT, udp/PORT or sink/PORT");
	std::string proto = spec.substr(0, slash);
	bool sink = proto == "sink";
	int type = sink ? SOCK_STREAM : parse_proto(proto);
	Endpoint local = parse_endpoint(addr, static_cast<int>(parse_number(spec.substr(slash + 1), 1, 65535, "port")));

	int fd = socket(local.family(), type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fatal("socket", errno);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (local.family() == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, local.sa(), local.len))
		fatal("bind to " + endpoint_text(type, local), errno);
	if (type == SOCK_STREAM && listen(fd, 64))
		fatal("listen on " + endpoint_text(type, local), errno);
	if (sink)
		return {fd, ServerSocket::sink_listener};
	return {fd, type == SOCK_STREAM ? ServerSocket::tcp_listener : ServerSocket::udp};
}

// Serve every listener until killed. Accepted TCP connections echo what they
// read; UDP sockets send each datagram back to its sender; sink connections
// count what they read and reply with the count at the end.
[[noreturn]] void serve(const std::vector<Listener> &listeners)
{
	std::vector<pollfd> fds;
	std::map<int, ServerSocket> kinds;
	std::map<int, long> sink_bytes;
	for (auto &l : listeners) {
		fds.push_back({l.fd, POLLIN, 0});
		kinds[l.fd] = l.kind;
	}
	char buf[65536];
	while (true) {
		if (poll(fds.data(), fds.size(), -1) < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll", errno);
		}
		std::vector<pollfd> added;
		for (auto &pfd : fds) {
			if (!pfd.revents)
				continue;
			ServerSocket kind = kinds[pfd.fd];
			switch (kind) {
			case ServerSocket::tcp_listener:
			case ServerSocket::sink_listener: {
				int conn = accept4(pfd.fd, nullptr, nullptr, SOCK_CLOEXEC);
				if (conn >= 0) {
					added.push_back({conn, POLLIN, 0});
					kinds[conn] = kind == ServerSocket::sink_listener ? ServerSocket::sink_connection
											  : ServerSocket::echo_connection;
					sink_bytes[conn] = 0;
				}
				break;
			}
			case ServerSocket::udp: {
				sockaddr_storage peer{};
				socklen_t len = sizeof(peer);
				ssize_t n = recvfrom(pfd.fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr *>(&peer),
						     &len);
				if (n > 0)
					sendto(pfd.fd, buf, static_cast<std::size_t>(n), 0,
					       reinterpret_cast<sockaddr *>(&peer), len);
				break;
			}
			case ServerSocket::echo_connection:
			case ServerSocket::sink_connection: {
				ssize_t n = recv(pfd.fd, buf, sizeof(buf), 0);
				bool done;
				if (kind == ServerSocket::sink_connection) {
					if (n > 0)
						sink_bytes[pfd.fd] += n;
					done = n <= 0;
					if (n == 0) {
						std::string reply = "received " + std::to_string(sink_bytes[pfd.fd]) + "\n";
						(void)send(pfd.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
					}
				} else {
					// A blocking send is fine here: echoes are small and a
					// stalled peer only stalls this test server.
					done = n <= 0 || send(pfd.fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n;
				}
				if (done) {
					close(pfd.fd);
					kinds.erase(pfd.fd);
					sink_bytes.erase(pfd.fd);
					pfd.fd = -1;
				}
				break;
			}
			}
		}
		std::erase_if(fds, [](const pollfd &pfd) { return pfd.fd < 0; });
		fds.insert(fds.end(), added.begin(), added.end());
	}
}

int run_listen(const std::vector<std::string> &args)
{
	std::optional<std::string> pid_file;
	std::size_t i = 0;
	if (i < args.size() && args[i] == "--pid-file") {
		if (i + 1 >= args.size())
			usage_error("--pid-file needs a value");
		pid_file = args[i + 1];
		i += 2;
	}
	if (args.size() < i + 2)
		usage_error("expected ADDR and at least one tcp/PORT, udp/PORT or sink/PORT");
	std::string addr = args[i];
	std::vector<Listener> listeners;
	for (i++; i < args.size(); i++)
		listeners.push_back(open_listener(addr, args[i]));

	if (pid_file) {
		pid_t child = fork();
		if (child < 0)
			fatal("fork", errno);
		if (child > 0) {
			FILE *out = std::fopen(pid_file->c_str(), "w");
			if (!out) {
				int err = errno;
				kill(child, SIGTERM);
				fatal("cannot write " + *pid_file, err);
			}
			std::fprintf(out, "%d\n", child);
			std::fclose(out);
			return kExitOk;
		}
	}
	serve(listeners);
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2)
		usage_error("missing command");
	std::string command = argv[1];
	std::vector<std::string> args(argv + 2, argv + argc);
	if (command == "listen")
		return run_listen(args);
	if (command == "connect")
		return run_connect(args);
	if (command == "send")
		return run_send(args);
	if (command == "keep")
		return run_keep(args);
	if (command == "accept")
		return run_accept(args);
	if (command == "flood")
		return run_flood(args);
	if (command == "bulk")
		return run_bulk(args);
	if (command == "icmp-error")
		return run_icmp_error(args);
	usage_error("unknown command '" + command + "'");
}
