/*
 * sipbench.c - the SIP message layer's benchmark and the generator of its
 * malformed-message corpus (core/sip/msg.h, build.h).
 *
 *   sipbench bench [-n ITER] [-m MODE] FILE...   ns per message for each file:
 *       parse only; parse + the fields the proxy reads; parse +
 *       sip_msg_check(); the same with every message taking its pkg
 *       block (sip_hdr_inline = 0); and the builders (reply, forward).
 *       Best of 9 runs of ITER messages each, in CPU time of the process
 *       (CLOCK_PROCESS_CPUTIME_ID: a busy machine does not count others'
 *       time, though it still costs caches).  -m runs one mode only (0..4
 *       in the order above, 5 the pkg-block line), e.g. under
 *       `valgrind --tool=callgrind --toggle-collect=one` for instruction
 *       counts that no other load on the machine changes.
 *   sipbench gen SEED OUTDIR FILE...   writes OUTDIR/corpus.bin and
 *       OUTDIR/corpus.count from the seed messages FILE...
 *
 * Corpus: records of a 4-byte little-endian length and the bytes.  In
 * order: each seed as is; each seed truncated at every offset; then
 * MUTANTS messages, each a seed with 1 to 3 mutations chosen by
 * splitmix64(SEED): byte flips, duplicated / deleted header lines, huge
 * values, line ends removed or changed, binary junk, bad numbers, bad
 * Vias, special characters, folds inserted, header names broken, a
 * thousand extra headers.  The same SEED and files give the same bytes.
 * corpus.count holds the number of records and how many of them
 * sip_parse() rejects and sip_parse() + sip_msg_check() reject: the Check
 * suite (tests/check_sip_parse.c) asserts both.
 */
#define _GNU_SOURCE     /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem.h"
#include "sip/build.h"
#include "sip/msg.h"

#define MUTANTS 6800
#define MAX_SEEDS 32

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void b_put(struct buf *b, const void *s, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			die("realloc");
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static struct buf load(const char *path)
{
	struct buf b = { 0 };
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");
	if (!f)
		die(path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		b_put(&b, chunk, n);
	fclose(f);
	return b;
}

/* --- generator -------------------------------------------------------------- */

static uint64_t rng;

static uint64_t rnd64(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t rnd(size_t n)
{
	return n ? (size_t)(rnd64() % n) : 0;
}

/* m = m[0..at) + s[0..n) + m[at + cut..) */
static void splice(struct buf *m, size_t at, size_t cut, const void *s,
		size_t n)
{
	struct buf o = { 0 };
	if (at > m->len)
		at = m->len;
	if (cut > m->len - at)
		cut = m->len - at;
	b_put(&o, m->p, at);
	b_put(&o, s, n);
	b_put(&o, m->p + at + cut, m->len - at - cut);
	free(m->p);
	*m = o;
}

/* Start and length of a random line (its LF included). */
static size_t pick_line(const struct buf *m, size_t *len)
{
	size_t lines = 0, k, i, s = 0;
	for (i = 0; i < m->len; i++)
		lines += m->p[i] == '\n';
	k = rnd(lines + 1);
	for (i = 0; i < m->len && k; i++)
		if (m->p[i] == '\n' && --k == 0)
			s = i + 1;
	for (i = s; i < m->len && m->p[i] != '\n'; i++)
		;
	*len = (i < m->len ? i + 1 : i) - s;
	return s;
}

static void mut_flip(struct buf *m)
{
	for (size_t k = 1 + rnd(4); k-- && m->len;) {
		size_t at = rnd(m->len);
		m->p[at] = rnd(2) ? (unsigned char)rnd64() :
			m->p[at] ^ (unsigned char)(1u << rnd(8));
	}
}

static void mut_dup_line(struct buf *m)
{
	size_t n, s = pick_line(m, &n);
	unsigned char *line = malloc(n + 1);
	memcpy(line, m->p + s, n);
	for (size_t k = 1 + rnd(3); k--;)
		splice(m, s, 0, line, n);
	free(line);
}

static void mut_del_line(struct buf *m)
{
	size_t n, s = pick_line(m, &n);
	splice(m, s, n, NULL, 0);
}

static void mut_huge(struct buf *m)
{
	static const char fill[] = "a9;,<\" @:[.";
	size_t n = 200 + rnd(rnd(8) ? 300 : 2500);
	char *v = malloc(n);
	char c = fill[rnd(sizeof(fill) - 1)];
	memset(v, c, n);
	size_t len, s = pick_line(m, &len);
	splice(m, s + rnd(len + 1), 0, v, n);
	free(v);
}

static void mut_line_end(struct buf *m)
{
	size_t n, s = pick_line(m, &n);
	size_t e = s + n;               /* past the LF */
	switch (rnd(4)) {
	case 0:         /* LF gone */
		if (e > s && m->p[e - 1] == '\n')
			splice(m, e - 1, 1, NULL, 0);
		break;
	case 1:         /* CRLF gone: two lines become one */
		if (e >= s + 2 && m->p[e - 2] == '\r')
			splice(m, e - 2, 2, NULL, 0);
		break;
	case 2:         /* LF turned into CR */
		if (e > s && m->p[e - 1] == '\n')
			m->p[e - 1] = '\r';
		break;
	default:        /* every CRLF a bare LF */
		for (size_t i = 0; i + 1 < m->len; i++)
			if (m->p[i] == '\r' && m->p[i + 1] == '\n')
				splice(m, i, 1, NULL, 0);
	}
}

static void mut_junk(struct buf *m)
{
	size_t n = 1 + rnd(rnd(4) ? 64 : 512);
	unsigned char *j = malloc(n);
	for (size_t i = 0; i < n; i++)
		j[i] = (unsigned char)rnd64();
	if (rnd(8) == 0) {
		m->len = 0;
		b_put(m, j, n);
	} else {
		size_t at = rnd(m->len + 1);
		splice(m, at, rnd(2) ? rnd(n) : 0, j, n);
	}
	free(j);
}

static void mut_number(struct buf *m)
{
	static const char *const bad[] = { "99999999999999999999", "-1",
		"4294967296", "4294967295", "2147483648", "2147483647", "65536",
		"0", "", "256", "1e3", "0x10", "00000000000000000001", "+5",
		"1.5", " 7", "18446744073709551616" };
	size_t runs[256], nr = 0;
	for (size_t i = 0; i < m->len && nr < 256; i++)
		if (m->p[i] >= '0' && m->p[i] <= '9' &&
		    (i == 0 || m->p[i - 1] < '0' || m->p[i - 1] > '9'))
			runs[nr++] = i;
	if (!nr)
		return;
	size_t s = runs[rnd(nr)], e = s;
	while (e < m->len && m->p[e] >= '0' && m->p[e] <= '9')
		e++;
	const char *v = bad[rnd(sizeof(bad) / sizeof(bad[0]))];
	splice(m, s, e - s, v, strlen(v));
}

static void mut_via(struct buf *m)
{
	static const char *const vias[] = {
		"Via: SIP/2.0/UDP\r\n", "Via: SIP/2.0 UDP host\r\n",
		"Via: SIP/2.0/UDP host:99999;branch=z9hG4bK1\r\n",
		"Via: SIP/2.0/UDP host;rport=70000\r\n",
		"Via: SIP/2.0/UDP host;branch\r\n",
		"Via: SIP/2.0/UDP host;branch=\r\n",
		"Via: SIP/2.0/UDP [::1;branch=z9hG4bK1\r\n",
		"Via: SIP/2.0/UDP host,\r\n", "Via: ,\r\n", "Via:\r\n",
		"Via: SIP/2.0/UDP host;received=\"q\"\r\n",
		"Via: SIP/2.0/UDP h;;branch=x\r\n",
		"Via: SIP/2.0/UDP h;rport=;branch=x\r\n",
		"Via: SIP/2.0/UDP h;rport;rport=1\r\n",
		"Via: SIP/2.0/UDP [2001:db8::1]:5060;rport;branch=z9hG4bK2\r\n",
		"Via: SIP/2.0/UDP h ;branch=z9hG4bK3 , SIP/2.0/TCP g:1\r\n",
		"Via: SIP/2.0/UDP h:0\r\n", "Via: SIP/2.0/ UDP h\r\n",
		"Via: /2.0/UDP h\r\n", "Via: SIP/2.0/UDP h;branch=a\"b\r\n",
	};
	const char *v = vias[rnd(sizeof(vias) / sizeof(vias[0]))];
	const unsigned char *p = memmem(m->p, m->len, "\nVia:", 5);
	if (!p)
		p = memmem(m->p, m->len, "\nv:", 3);
	if (!p) {
		splice(m, rnd(m->len + 1), 0, v, strlen(v));
		return;
	}
	size_t s = (size_t)(p - m->p) + 1, e = s;
	while (e < m->len && m->p[e] != '\n')
		e++;
	splice(m, s, e < m->len ? e + 1 - s : e - s, v, strlen(v));
}

static void mut_special(struct buf *m)
{
	static const char sp[] = ";,<>\"[]:@ \t=?%\\*\r\n\0";
	for (size_t k = 1 + rnd(3); k--;) {
		char c = sp[rnd(sizeof(sp))];
		splice(m, rnd(m->len + 1), rnd(3) == 0, &c, 1);
	}
}

static void mut_fold(struct buf *m)
{
	static const char *const folds[] = { "\r\n ", "\r\n\t", "\n ",
		"\r\n", "\r\n\r\n" };
	const char *f = folds[rnd(5)];
	splice(m, rnd(m->len + 1), 0, f, strlen(f));
}

static void mut_name(struct buf *m)
{
	static const char *const names[] = { "", " ", "Vi a", "Via ", ":",
		"\x80\x81", "Content-Length", "l", "Max-Forwards", "CSeq", "m",
		"To", "f", "i", "Route", "Expires", "Contact", "X-Custom" };
	size_t n, s = pick_line(m, &n);
	size_t c = s;
	while (c < s + n && m->p[c] != ':')
		c++;
	const char *v = names[rnd(sizeof(names) / sizeof(names[0]))];
	if (c == s + n || rnd(5) == 0)
		splice(m, c < s + n ? c : s, c < s + n ? 1 : 0, "", 0);
	else
		splice(m, s, c - s, v, strlen(v));
}

static void mut_many(struct buf *m)
{
	struct buf h = { 0 };
	size_t n = 1000 + rnd(100);
	for (size_t i = 0; i < n; i++)
		b_put(&h, "X: 1\r\n", 6);
	size_t len, s = pick_line(m, &len);
	splice(m, s, 0, h.p, h.len);
	free(h.p);
}

typedef void (*mut_fn)(struct buf *m);

static const mut_fn muts[] = { mut_flip, mut_flip, mut_dup_line,
	mut_del_line, mut_huge, mut_line_end, mut_line_end, mut_junk,
	mut_number, mut_number, mut_via, mut_via, mut_special, mut_special,
	mut_fold, mut_name };

static void put_record(FILE *f, const unsigned char *p, size_t n)
{
	unsigned char len[4] = { (unsigned char)n, (unsigned char)(n >> 8),
		(unsigned char)(n >> 16), (unsigned char)(n >> 24) };
	if (fwrite(len, 1, 4, f) != 4 || (n && fwrite(p, 1, n, f) != n))
		die("write");
}

/* What the Check suite counts: rejected by sip_parse, or by it or
 * sip_msg_check.  Per error, for the summary. */
struct tally {
	long records, parse_rejected, rejected, by_err[SIP_E_COUNT];
};

static void tally_one(struct tally *t, const unsigned char *p, size_t n)
{
	struct sip_msg m;
	int rc = sip_parse(&m, (const char *)p, n);
	t->records++;
	if (rc)
		t->parse_rejected++;
	else
		rc = sip_msg_check(&m);
	sip_msg_free(&m);
	if (rc) {
		t->rejected++;
		t->by_err[-rc]++;
	}
}

static void gen_write(FILE *f, struct tally *t, const unsigned char *p,
		size_t n)
{
	put_record(f, p, n);
	tally_one(t, p, n);
}

static void write_count(const char *dir, uint64_t seed, const struct tally *t)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/corpus.count", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		die(path);
	fprintf(f, "# corpus.bin: written by utils/sipbench (sipbench gen); "
		"checked by tests/check_sip_parse.c\nseed %llu\nrecords %ld\n"
		"parse_rejected %ld\nrejected %ld\n", (unsigned long long)seed,
		t->records, t->parse_rejected, t->rejected);
	for (int e = 1; e < SIP_E_COUNT; e++)
		if (t->by_err[e])
			fprintf(f, "# %s: %ld\n", sip_strerror(-e), t->by_err[e]);
	fclose(f);
	printf("%ld records, %ld rejected by sip_parse, %ld in all\n",
		t->records, t->parse_rejected, t->rejected);
}

static int gen(uint64_t seed, const char *dir, int nfiles, char **files)
{
	struct buf seeds[MAX_SEEDS];
	struct tally t = { 0 };
	char path[4096];
	int ns = nfiles < MAX_SEEDS ? nfiles : MAX_SEEDS;
	snprintf(path, sizeof(path), "%s/corpus.bin", dir);
	FILE *f = fopen(path, "wb");
	if (!f)
		die(path);
	rng = seed;
	for (int i = 0; i < ns; i++) {
		seeds[i] = load(files[i]);
		gen_write(f, &t, seeds[i].p, seeds[i].len);
	}
	for (int i = 0; i < ns; i++)
		for (size_t n = 0; n < seeds[i].len; n++)
			gen_write(f, &t, seeds[i].p, n);
	for (int k = 0; k < MUTANTS; k++) {
		struct buf m = { 0 };
		const struct buf *s = &seeds[rnd((size_t)ns)];
		b_put(&m, s->p, s->len);
		if (k % 400 == 399)
			mut_many(&m);
		for (size_t j = 1 + rnd(rnd(3) ? 1 : 3); j--;)
			muts[rnd(sizeof(muts) / sizeof(muts[0]))](&m);
		gen_write(f, &t, m.p, m.len);
		free(m.p);
	}
	if (fclose(f))
		die(path);
	write_count(dir, seed, &t);
	for (int i = 0; i < ns; i++)
		free(seeds[i].p);
	return 0;
}

/* --- benchmark --------------------------------------------------------------- */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile uint32_t sink;

/* What the stateless proxy and registrar read of every message. */
static int proxy_fields(const struct sip_msg *m)
{
	struct sip_via v;
	struct sip_naddr from, to, c[8];
	struct sip_cseq cs;
	struct sip_uri u;
	struct sip_str id, body;
	uint32_t n = 0, mf = 0;
	int rc = sip_get_via(m, 0, &v) | sip_get_from(m, &from) |
		sip_get_to(m, &to) | sip_get_callid(m, &id) |
		sip_get_cseq(m, &cs) | sip_get_body(m, &body);
	if (m->type == SIP_REQUEST) {
		rc |= sip_get_ruri(m, &u);
		(void)sip_get_max_forwards(m, &mf);
		if (m->method_id == SIP_M_REGISTER) {
			rc |= sip_get_contacts(m, c, 8, NULL) < 0;
			(void)sip_get_expires(m, &n);
		}
	}
	sink += n + mf + cs.num + v.port;
	return rc;
}

enum mode { M_PARSE, M_FIELDS, M_CHECK, M_REPLY, M_FWD, M_NMODES };
static const char *const mode_names[M_NMODES] = { "parse",
	"parse+fields", "parse+check", "+reply", "+forward" };

__attribute__((noinline)) static void one(const struct buf *b, enum mode md)
{
	static char out[SIP_MAX_LEN];
	static const struct sip_src src = { "192.0.2.1", 5060 };
	struct sip_msg m;
	if (sip_parse(&m, (const char *)b->p, b->len))
		exit(2);
	if (md == M_FIELDS || md == M_REPLY || md == M_FWD)
		(void)proxy_fields(&m);
	else if (md == M_CHECK)
		(void)sip_msg_check(&m);
	if (md == M_REPLY) {
		struct sip_reply_spec r = { .code = 200, .src = &src,
			.server = "srproxy" };
		sink += (uint32_t)sip_build_reply(&m, &r, out, sizeof(out));
	} else if (md == M_FWD) {
		struct sip_fwd_spec f = { .host = "192.0.2.1", .port = 5060,
			.src = &src };
		sink += (uint32_t)sip_build_fwd_request(&m, &f, out,
			sizeof(out));
	}
	sip_msg_free(&m);
}

static double time_mode(const struct buf *b, enum mode md, long iters)
{
	double best = 1e30;
	for (int run = 0; run < 9; run++) {
		double t0 = now_ns();
		for (long i = 0; i < iters; i++)
			one(b, md);
		double ns = (now_ns() - t0) / (double)iters;
		if (ns < best)
			best = ns;
	}
	return best;
}

static int only = -1;   /* -m: one mode, M_NMODES: the pkg-block line */

static void bench_file(const char *path, long iters)
{
	struct buf b = load(path);
	struct sip_msg m;
	if (sip_parse(&m, (const char *)b.p, b.len) || sip_msg_check(&m)) {
		fprintf(stderr, "%s: not a valid message\n", path);
		exit(2);
	}
	printf("%s (%zu bytes, %u headers)\n", path, b.len, m.nhdr);
	sip_msg_free(&m);
	for (int md = 0; md < M_NMODES; md++) {
		if ((m.type == SIP_REPLY && md >= M_REPLY) ||
		    (only >= 0 && md != only))
			continue;
		printf("  %-14s %7.1f ns/msg\n", mode_names[md],
			time_mode(&b, md, iters));
	}
	if (only >= 0 && only != M_NMODES)
		goto out;
	sip_hdr_inline = 0;
	printf("  %-14s %7.1f ns/msg  (every message takes its pkg block)\n",
		"parse+fields", time_mode(&b, M_FIELDS, iters));
	sip_hdr_inline = SIP_HDR_INLINE;
out:
	free(b.p);
}

static int usage(void)
{
	fprintf(stderr, "usage: sipbench bench [-n ITER] [-m MODE] FILE...\n"
		"       sipbench gen SEED OUTDIR FILE...\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (pkg_init(8 << 20, NULL))
		return 1;
	if (argc >= 5 && !strcmp(argv[1], "gen"))
		return gen(strtoull(argv[2], NULL, 10), argv[3], argc - 4,
			argv + 4);
	if (argc < 3 || strcmp(argv[1], "bench"))
		return usage();
	long iters = 50000;
	int i = 2;
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "-n"))
			iters = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "-m"))
			only = atoi(argv[i + 1]);
		else
			return usage();
	}
	printf("%s, pkg backend %s\n", mem_build_info(),
		mem_pool_backend(mem_pkg_pool));
	for (; i < argc; i++)
		bench_file(argv[i], iters);
	return 0;
}
