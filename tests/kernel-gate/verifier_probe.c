// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * verifier_probe: load one of two tiny XDP programs and run it once, to show
 * which instruction sets a kernel's verifier accepts.
 *
 *   baseline  plain 64-bit ALU instructions that every eBPF kernel accepts,
 *             to show that the probe itself loads and runs on the kernel.
 *   movsx     one sign-extending move (BPF ISA v4, "r0 = (s8) r1"). Linux 6.6
 *             added the v4 instructions; 6.1's verifier rejects the encoding
 *             with "BPF_MOV uses reserved fields". A program built with
 *             clang -mcpu=v4 emits such moves, so this is the failure a future
 *             compiler flag change would bring to a Debian 12 host.
 *
 * Both programs return XDP_PASS only when the kernel computed the result as the
 * ISA defines it, so a kernel that loads movsx but ignores the sign extension
 * is caught too.
 *
 * Exit status: 0 loaded and returned XDP_PASS, 2 the kernel rejected the
 * program (the verifier log follows on stdout), 1 anything else.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#define PROBE_REJECTED 2

#define INSN(code_, dst_, src_, off_, imm_) \
	((struct bpf_insn){.code = (code_), .dst_reg = (dst_), .src_reg = (src_), .off = (off_), .imm = (imm_)})

/* r1 = 0xff; r0 = r1; r0 -= 0xfd; exit: returns 2 (XDP_PASS). */
static const struct bpf_insn baseline_insns[] = {
	INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 0xff),
	INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_1, 0, 0),
	INSN(BPF_ALU64 | BPF_SUB | BPF_K, BPF_REG_0, 0, 0, 0xfd),
	INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
};

/* r1 = 0xff; r0 = (s8) r1, which is -1; r0 += 3; exit: returns 2 (XDP_PASS).
 * The move's off field selects the sign extension (8 bits); before ISA v4 the
 * field had to be zero. */
static const struct bpf_insn movsx_insns[] = {
	INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 0xff),
	INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_1, 8, 0),
	INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_0, 0, 0, 3),
	INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
};

struct probe {
	const char *name;
	const struct bpf_insn *insns;
	size_t insn_count;
};

static const struct probe probes[] = {
	{"baseline", baseline_insns, sizeof(baseline_insns) / sizeof(baseline_insns[0])},
	{"movsx", movsx_insns, sizeof(movsx_insns) / sizeof(movsx_insns[0])},
};

static char verifier_log[64 * 1024];

static int run_probe(const struct probe *probe)
{
	LIBBPF_OPTS(bpf_prog_load_opts, load_opts, .log_buf = verifier_log, .log_size = sizeof(verifier_log),
		    .log_level = 1);
	/* XDP's test run needs at least an Ethernet header's worth of data. */
	unsigned char packet[64] = {0};
	LIBBPF_OPTS(bpf_test_run_opts, run_opts, .data_in = packet, .data_size_in = sizeof(packet), .repeat = 1);
	int prog_fd, err;

	prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, probe->name, "Dual BSD/GPL", probe->insns, probe->insn_count,
				&load_opts);
	if (prog_fd < 0) {
		err = errno;
		printf("%s: rejected: %s\n", probe->name, strerror(err));
		printf("verifier log:\n%s\n", verifier_log);
		/* Other errors, such as EPERM, mean the verifier never saw the program. */
		return err == EINVAL || err == EACCES ? PROBE_REJECTED : 1;
	}

	err = bpf_prog_test_run_opts(prog_fd, &run_opts);
	if (err) {
		printf("%s: loaded, but the test run failed: %s\n", probe->name, strerror(errno));
		return 1;
	}
	if (run_opts.retval != XDP_PASS) {
		printf("%s: loaded, but returned %u instead of XDP_PASS (%u)\n", probe->name, run_opts.retval,
		       XDP_PASS);
		return 1;
	}
	printf("%s: accepted, returned XDP_PASS\n", probe->name);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2) {
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
			if (strcmp(argv[1], probes[i].name) == 0)
				return run_probe(&probes[i]);
		}
	}
	fprintf(stderr, "usage: verifier_probe baseline|movsx\n");
	return 1;
}
