/*
 * driver.c - the libFuzzer entry of one target, chosen at build time by
 * FUZZ_TARGET (an index into the table below; the Makefile's FUZZ_TARGETS
 * list is in the same order).  Built with clang -fsanitize=fuzzer.
 */
#include "fuzz.h"

typedef int (*fuzz_fn)(const uint8_t *d, size_t n);

static const fuzz_fn targets[] = {
	fuzz_alloc_fm, fuzz_alloc_qm, fuzz_alloc_tlsf, fuzz_sip, fuzz_rpc,
};
_Static_assert(FUZZ_TARGET >= 0 && FUZZ_TARGET < (int)(sizeof(targets) /
		sizeof(targets[0])), "FUZZ_TARGET names a target");

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	targets[FUZZ_TARGET](d, n);
	return 0;
}
