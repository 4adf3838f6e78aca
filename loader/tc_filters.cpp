#include "loader/tc_filters.hpp"

#include <libmnl/libmnl.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <memory>
#include <vector>

#include "loader/error.hpp"

namespace airgap {
namespace {

struct SocketCloser {
	void operator()(mnl_socket *socket) const { mnl_socket_close(socket); }
};

int count_filter(const nlmsghdr *nlh, void *data)
{
	auto *tcm = static_cast<const tcmsg *>(mnl_nlmsg_get_payload(nlh));
	// A dump also lists each classifier instance with handle 0; only the
	// filters inside it have a handle.
	if (nlh->nlmsg_type == RTM_NEWTFILTER && tcm->tcm_handle != 0)
		++*static_cast<int *>(data);
	return MNL_CB_OK;
}

} // namespace

int count_tc_filters(int ifindex, bpf_tc_attach_point point)
{
	std::unique_ptr<mnl_socket, SocketCloser> socket(mnl_socket_open(NETLINK_ROUTE));
	if (!socket)
		fail("cannot open an rtnetlink socket: {}", errno_text(errno));
	if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0)
		fail("cannot bind an rtnetlink socket: {}", errno_text(errno));

	std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
	nlmsghdr *nlh = mnl_nlmsg_put_header(buffer.data());
	nlh->nlmsg_type = RTM_GETTFILTER;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = static_cast<unsigned>(time(nullptr));
	auto *tcm = static_cast<tcmsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(tcmsg)));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = TC_H_MAKE(TC_H_CLSACT, point == BPF_TC_INGRESS ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);

	unsigned port = mnl_socket_get_portid(socket.get());
	unsigned seq = nlh->nlmsg_seq;
	if (mnl_socket_sendto(socket.get(), nlh, nlh->nlmsg_len) < 0)
		fail("cannot list TC filters on interface {}: {}", ifindex, errno_text(errno));

	int count = 0;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(socket.get(), buffer.data(), buffer.size());
		if (len < 0)
			fail("cannot list TC filters on interface {}: {}", ifindex, errno_text(errno));
		int rc = mnl_cb_run(buffer.data(), len, seq, port, count_filter, &count);
		if (rc == MNL_CB_STOP)
			break;
		if (rc < 0) {
			// No clsact qdisc: nothing to count.
			if (errno == EINVAL || errno == ENOENT)
				return 0;
			fail("cannot list TC filters on interface {}: {}", ifindex, errno_text(errno));
		}
	}
	return count;
}

} // namespace airgap
