/*
 * fuzz.h - the entry points of the fuzz targets, shared by the libFuzzer
 * driver (driver.c, built with clang by `make fuzz`) and by the replay
 * suite (tests/check_fuzz.c, built with every configuration), so that
 * every seed and every crash kept in tests/fuzz/<corpus>/ runs through
 * the very code the fuzzer ran.
 *
 * Each entry takes one input, runs it from a fresh state (alloc) or a
 * state set up once (sip, rpc), and checks its invariants with
 * memtest.h's T_ASSERT: a failure is a Check failure in the replay suite
 * and an abort (a crash to libFuzzer) in the fuzz build.
 *
 *   alloc  (corpus alloc/) a pkg pool of one backend, driven by a program
 *          decoded from the input (fuzz_alloc.c); checker and model after
 *          every step;
 *   sip    (corpus sip/) one datagram through the SIP parser, every
 *          accessor and the whole receive path (registrar, proxy);
 *   rpc    (corpus rpc/) one JSON-RPC text through the dispatcher.
 */
#ifndef SRMEM_FUZZ_H
#define SRMEM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int fuzz_alloc(const char *backend, const uint8_t *d, size_t n);
int fuzz_alloc_fm(const uint8_t *d, size_t n);
int fuzz_alloc_qm(const uint8_t *d, size_t n);
int fuzz_alloc_tlsf(const uint8_t *d, size_t n);
int fuzz_sip(const uint8_t *d, size_t n);
int fuzz_rpc(const uint8_t *d, size_t n);

/* What the sip and rpc targets run in, made once (fuzz_setup.c); the
 * first input calls it. */
void fuzz_setup(void);

#endif /* SRMEM_FUZZ_H */
