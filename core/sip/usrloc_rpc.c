/*
 * usrloc_rpc.c - the registrar's RPC methods (doc/RPC.md, "Registrar"):
 *
 *   ul.dump [limit]   { "AoRs": [AOR...], "Count", "Truncated" }
 *   ul.lookup AOR     AOR, or -32000 "AOR not found"
 *   ul.rm AOR         { "AoR", "Removed": true }, or -32000 "AOR not found"
 *
 * AOR = { "AoR", "Contacts": [ { "Address", "Expires" (seconds left),
 * "Q" (-1 unspecified, else 0..1), "Call-ID", "CSeq", "Received",
 * "User-Agent", "Last-Modified" (unix time) } ] }, Kamailio's field names.
 *
 * They run in the RPC process on the copies usrloc hands out (ul_walk,
 * ul_lookup), so no bucket lock is held while JSON is built; the dump
 * takes one bucket lock at a time, and a limit bounds the reply.
 */
#include <string.h>
#include <time.h>

#include "mem.h"
#include "rpc/rpc.h"
#include "sip/usrloc.h"

#define DUMP_LIMIT_DEFAULT 10000
#define DUMP_LIMIT_MAX 1000000

static json_t *binding_json(const struct ul_binding *b)
{
	return json_pack("{s:s%,s:I,s:f,s:s%,s:I,s:s%,s:s%,s:I}",
		"Address", b->uri, (size_t)b->uri_len,
		"Expires", (json_int_t)b->expires_in,
		"Q", b->q < 0 ? -1.0 : b->q / 1000.0,
		"Call-ID", b->call_id, (size_t)b->call_id_len,
		"CSeq", (json_int_t)b->cseq,
		"Received", b->received, (size_t)b->received_len,
		"User-Agent", b->user_agent, (size_t)b->user_agent_len,
		"Last-Modified", (json_int_t)b->modified);
}

/* NULL: out of memory (the dispatcher then answers -32000). */
static json_t *set_json(const struct ul_set *s)
{
	json_t *cts = json_array();
	for (unsigned i = 0; cts && i < s->n; i++)
		if (json_array_append_new(cts, binding_json(&s->c[i])) < 0) {
			json_decref(cts);
			return NULL;
		}
	if (!cts)
		return NULL;
	return json_pack("{s:s%,s:o}", "AoR", s->aor, (size_t)s->aor_len,
		"Contacts", cts);
}

struct dump {
	json_t *aors;
	long long limit, count;
	int truncated, nomem;
};

static int dump_one(const struct ul_set *s, void *arg)
{
	struct dump *d = arg;
	if (d->count >= d->limit) {
		d->truncated = 1;
		return 1;
	}
	if (json_array_append_new(d->aors, set_json(s)) < 0) {
		d->nomem = 1;
		return 1;
	}
	d->count++;
	return 0;
}

static int m_dump(struct rpc_ctx *c, json_t *params, json_t **res)
{
	struct dump d = { .limit = DUMP_LIMIT_DEFAULT };
	if (rpc_arg_int(c, params, 0, "limit", 0, &d.limit) < 0)
		return -1;
	if (d.limit < 1 || d.limit > DUMP_LIMIT_MAX)
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter limit (#1) "
			"must be 1..%d", DUMP_LIMIT_MAX);
	if (!(d.aors = json_array()))
		return rpc_fail(c, RPC_SERVER_ERROR, "out of memory");
	int rc = ul_walk((int64_t)time(NULL), dump_one, &d);
	if (d.nomem || rc < 0) {
		json_decref(d.aors);
		return rpc_fail(c, RPC_SERVER_ERROR, "%s", d.nomem ?
			"out of memory" : ul_strerror(rc));
	}
	*res = json_pack("{s:o,s:I,s:b}", "AoRs", d.aors, "Count",
		(json_int_t)d.count, "Truncated", d.truncated);
	return 0;
}

/* The AOR parameter, checked against the table's limit. */
static int aor_arg(struct rpc_ctx *c, json_t *params, struct ul_str *aor)
{
	const char *s;
	if (rpc_arg_str(c, params, 0, "aor", 1, &s) < 0)
		return -1;
	aor->s = s;
	aor->len = strlen(s);
	if (!aor->len || aor->len > UL_AOR_MAX)
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter aor (#1) "
			"must be 1..%d bytes", UL_AOR_MAX);
	return 0;
}

static int not_found_or(struct rpc_ctx *c, int rc)
{
	if (rc == UL_E_NOTFOUND)
		return rpc_fail(c, RPC_SERVER_ERROR, "AOR not found");
	return rpc_fail(c, RPC_SERVER_ERROR, "%s", ul_strerror(rc));
}

static int m_lookup(struct rpc_ctx *c, json_t *params, json_t **res)
{
	struct ul_str aor;
	int rc;
	if (aor_arg(c, params, &aor) < 0)
		return -1;
	struct ul_set *s = ul_lookup(aor, (int64_t)time(NULL), &rc);
	if (!s)
		return not_found_or(c, rc);
	*res = set_json(s);
	pkg_free(s);
	return *res ? 0 : rpc_fail(c, RPC_SERVER_ERROR, "out of memory");
}

static int m_rm(struct rpc_ctx *c, json_t *params, json_t **res)
{
	struct ul_str aor;
	if (aor_arg(c, params, &aor) < 0)
		return -1;
	int rc = ul_rm(aor);
	if (rc != UL_OK)
		return not_found_or(c, rc);
	*res = json_pack("{s:s%,s:b}", "AoR", aor.s, aor.len, "Removed", 1);
	return 0;
}

RPC_METHOD(ul_dump_m) = { "ul.dump", m_dump, "[limit]",
	"registered AoRs and their contacts (at most limit AoRs, default "
	"10000)", 0 };
RPC_METHOD(ul_lookup_m) = { "ul.lookup", m_lookup, "AOR",
	"the contacts of one AoR, highest q first", 0 };
RPC_METHOD(ul_rm_m) = { "ul.rm", m_rm, "AOR",
	"remove an AoR and all its contacts", 0 };
