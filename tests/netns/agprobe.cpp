// agprobe: echo servers and clients with bounded timeouts, for the network
// namespace tests and the demo. A client exits 0 only after a full echo round
// trip, so "passes" always means data went both ways.
//
//   agprobe listen [--pid-file FILE] ADDR SPEC...   SPEC is tcp/PORT or udp/PORT
//   agprobe connect tcp|udp ADDR PORT [--timeout-ms N] [--from ADDR] [--sport PORT]
//   agprobe send udp ADDR PORT [--count N] [--from ADDR] [--sport PORT]
//   agprobe keep tcp ADDR PORT [--timeout-ms N] [--from ADDR]
//
// Exit codes of connect and keep:
//   0  the echo round trip worked
//   3  timed out: nothing came back
//   4  refused: a TCP reset or an ICMP port unreachable came back
//   5  unreachable: an ICMP host or network unreachable, or no route
//   1  any other error; 2 invalid arguments
//
// listen binds every socket first and, with --pid-file, then forks: the
// command returns once the server accepts, and FILE contains the server's PID.
// keep opens one connection and prints "ready" after a first round trip. Then
// it does a round trip for each line read from stdin and prints one result
// line for each: "ok", "timeout", "closed" or "error TEXT".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

// Exit codes of connect and keep. They separate a silent drop (nothing comes
// back) from a reply that rejects the connection (a TCP reset or an ICMP error).
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

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage_error(const std::string &message)
{
	std::fprintf(stderr, "agprobe: %s\n", message.c_str());
	std::fprintf(stderr,
		     "usage: agprobe listen [--pid-file FILE] ADDR tcp/PORT|udp/PORT...\n"
		     "       agprobe connect tcp|udp ADDR PORT [--timeout-ms N] [--from ADDR] [--sport PORT]\n"
		     "       agprobe send udp ADDR PORT [--count N] [--from ADDR] [--sport PORT]\n"
		     "       agprobe keep tcp ADDR PORT [--timeout-ms N] [--from ADDR]\n");
	std::exit(kExitUsage);
}

[[noreturn]] void fatal(const std::string &what, int err)
{
	std::fprintf(stderr, "agprobe: %s: %s\n", what.c_str(), std::strerror(err));
	std::exit(kExitError);
}

int parse_number(const std::string &text, long min, long max, const char *what)
{
	char *end = nullptr;
	errno = 0;
	long value = std::strtol(text.c_str(), &end, 10);
	if (errno || end == text.c_str() || *end || value < min || value > max)
		usage_error("invalid " + std::string(what) + " '" + text + "': expected " + std::to_string(min) +
			    ".." + std::to_string(max));
	return static_cast<int>(value);
}

int parse_proto(const std::string &text)
{
	if (text == "tcp")
		return SOCK_STREAM;
	if (text == "udp")
		return SOCK_DGRAM;
	usage_error("invalid protocol '" + text + "': expected tcp or udp");
}

sockaddr_in parse_endpoint(const std::string &addr, int port)
{
	sockaddr_in sa{};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(static_cast<uint16_t>(port));
	if (inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1)
		usage_error("invalid IPv4 address '" + addr + "'");
	return sa;
}

std::string endpoint_text(int type, const sockaddr_in &sa)
{
	char text[INET_ADDRSTRLEN] = {};
	inet_ntop(AF_INET, &sa.sin_addr, text, sizeof(text));
	return std::string(type == SOCK_STREAM ? "tcp " : "udp ") + text + ":" + std::to_string(ntohs(sa.sin_port));
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
	sockaddr_in remote{};
	std::optional<std::string> from;
	int sport = 0;
	int timeout_ms = kDefaultTimeoutMs;
	int count = 1;
};

// Parse PROTO ADDR PORT and the options of connect, keep and (for_send) send.
ClientOptions parse_client(const std::vector<std::string> &args, bool for_send)
{
	if (args.size() < 3)
		usage_error("expected PROTO ADDR PORT");
	ClientOptions options;
	options.type = parse_proto(args[0]);
	if (for_send && options.type != SOCK_DGRAM)
		usage_error("send sends udp only");
	options.remote = parse_endpoint(args[1], parse_number(args[2], 1, 65535, "port"));
	for (std::size_t i = 3; i < args.size(); i++) {
		const std::string &flag = args[i];
		if (i + 1 >= args.size())
			usage_error("option " + flag + " needs a value");
		const std::string &value = args[++i];
		if (flag == "--timeout-ms")
			options.timeout_ms = parse_number(value, 1, 600000, "timeout");
		else if (flag == "--from")
			options.from = value;
		else if (flag == "--sport")
			options.sport = parse_number(value, 1, 65535, "source port");
		else if (flag == "--count" && for_send)
			options.count = parse_number(value, 1, 1000000, "count");
		else
			usage_error("unknown option " + flag);
	}
	return options;
}

// Create a client socket bound to the requested source, connected (UDP) or
// with a non-blocking connect started (TCP).
int open_client(const ClientOptions &options)
{
	int fd = socket(AF_INET, options.type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fatal("socket", errno);
	if (options.from || options.sport) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		sockaddr_in local = parse_endpoint(options.from.value_or("0.0.0.0"), options.sport);
		if (bind(fd, reinterpret_cast<sockaddr *>(&local), sizeof(local)))
			fatal("bind to " + endpoint_text(options.type, local), errno);
	}
	if (connect(fd, reinterpret_cast<const sockaddr *>(&options.remote), sizeof(options.remote)) &&
	    errno != EINPROGRESS) {
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

// Outcome of waiting for bytes the peer should echo.
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

bool send_all(int fd, const std::string &data, Clock::time_point deadline, int &err)
{
	std::size_t sent = 0;
	while (sent < data.size()) {
		ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
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
		(void)send(fd, message.data(), message.size(), 0);
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
	ClientOptions options = parse_client(args, false);
	return options.type == SOCK_STREAM ? connect_tcp(options) : connect_udp(options);
}

// Send datagrams and expect nothing back: for counting drops.
int run_send(const std::vector<std::string> &args)
{
	ClientOptions options = parse_client(args, true);
	int fd = open_client(options);
	std::string message = payload("send");
	int sent = 0;
	for (int i = 0; i < options.count; i++) {
		if (send(fd, message.data(), message.size(), 0) == static_cast<ssize_t>(message.size()))
			sent++;
	}
	std::printf("sent %d of %d datagrams to %s\n", sent, options.count,
		    endpoint_text(options.type, options.remote).c_str());
	return sent == options.count ? kExitOk : kExitError;
}

int run_keep(const std::vector<std::string> &args)
{
	ClientOptions options = parse_client(args, false);
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

	char line[256];
	while (std::fgets(line, sizeof(line), stdin)) {
		deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
		std::string message = payload("keep");
		expected += message;
		err = 0;
		result = send_all(fd, message, deadline, err) ? wait_stream_echo(fd, expected, deadline, err)
							      : EchoResult::error;
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
	return kExitOk;
}

struct Listener {
	int fd;
	int type;
};

Listener open_listener(const std::string &addr, const std::string &spec)
{
	auto slash = spec.find('/');
	if (slash == std::string::npos)
		usage_error("invalid listener '" + spec + "': expected tcp/PORT or udp/PORT");
	int type = parse_proto(spec.substr(0, slash));
	sockaddr_in local = parse_endpoint(addr, parse_number(spec.substr(slash + 1), 1, 65535, "port"));

	int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fatal("socket", errno);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, reinterpret_cast<sockaddr *>(&local), sizeof(local)))
		fatal("bind to " + endpoint_text(type, local), errno);
	if (type == SOCK_STREAM && listen(fd, 64))
		fatal("listen on " + endpoint_text(type, local), errno);
	return {fd, type};
}

// Echo on every listener until killed. Accepted TCP connections echo what
// they read; UDP sockets send each datagram back to its sender.
[[noreturn]] void serve(const std::vector<Listener> &listeners)
{
	std::vector<pollfd> fds;
	std::map<int, int> types; // fd -> SOCK_STREAM listener, SOCK_DGRAM, or 0 for a connection
	for (auto &l : listeners) {
		fds.push_back({l.fd, POLLIN, 0});
		types[l.fd] = l.type;
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
			int type = types[pfd.fd];
			if (type == SOCK_STREAM) {
				int conn = accept4(pfd.fd, nullptr, nullptr, SOCK_CLOEXEC);
				if (conn >= 0) {
					added.push_back({conn, POLLIN, 0});
					types[conn] = 0;
				}
			} else if (type == SOCK_DGRAM) {
				sockaddr_in peer{};
				socklen_t len = sizeof(peer);
				ssize_t n = recvfrom(pfd.fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr *>(&peer),
						     &len);
				if (n > 0)
					sendto(pfd.fd, buf, static_cast<std::size_t>(n), 0,
					       reinterpret_cast<sockaddr *>(&peer), len);
			} else {
				ssize_t n = recv(pfd.fd, buf, sizeof(buf), 0);
				// A blocking send is fine here: echoes are small and a
				// stalled peer only stalls this test server.
				if (n <= 0 || send(pfd.fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) {
					close(pfd.fd);
					types.erase(pfd.fd);
					pfd.fd = -1;
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
		usage_error("expected ADDR and at least one tcp/PORT or udp/PORT");
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
	usage_error("unknown command '" + command + "'");
}
