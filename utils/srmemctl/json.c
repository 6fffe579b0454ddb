/*
 * json.c - reading srproxy's results: fields that may be absent or null
 * (a server older or newer than doc/RPC.md) read as 0, NULL or a default,
 * so a missing field shows as "-" or 0 instead of crashing the client.
 * Also the --json printer (indented, one text per result, jq-friendly).
 */
#include "srmemctl.h"

#include <stdio.h>

long long jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (long long)json_real_value(v);
	return 0;
}

const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

const char *jstr_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = jstr(o, key);

	return s ? s : dflt;
}

const char *jsite(const json_t *o, char *buf, size_t size)
{
	const char *file = jstr(o, "file");

	if (!file || !*file)
		snprintf(buf, size, "(no call site)");
	else
		snprintf(buf, size, "%s:%s:%lld", file,
				jstr_or(o, "func", "?"), jint(o, "line"));
	return buf;
}

const char *jproc(const json_t *o, char *buf, size_t size)
{
	if (!json_is_integer(json_object_get(o, "pid")))
		snprintf(buf, size, "-");
	else if (!json_is_integer(json_object_get(o, "rank")))
		snprintf(buf, size, "pid %lld", jint(o, "pid"));
	else
		snprintf(buf, size, "pid %lld (rank %lld)", jint(o, "pid"),
				jint(o, "rank"));
	return buf;
}

int json_print(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', stdout);
	fflush(stdout);
	return EXIT_OK;
}
