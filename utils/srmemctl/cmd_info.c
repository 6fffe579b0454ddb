/*
 * cmd_info.c - the server's facts (ps, version, uptime, methods), `raw`
 * for any method.
 */
#include "srmemctl.h"
#include "table.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* --- ps, version, uptime, methods ------------------------------------------ */

static int show_ps(struct ctl *c, json_t *r)
{
	static const char *const cols[] = { "entry", "pid", "rank", NULL };
	struct table *t = tbl_new();
	const json_t *p;
	char up[FMT_LEN];
	size_t i;

	(void)c;
	for (int k = 0; cols[k]; k++)
		tbl_col(t, cols[k], TBL_R);
	tbl_col(t, "state", TBL_L);
	tbl_col(t, "restarts", TBL_R);
	tbl_col(t, "uptime", TBL_R);
	tbl_col(t, "desc", TBL_L);
	json_array_foreach(r, i, p) {
		tbl_row(t);
		for (int k = 0; cols[k]; k++)
			tbl_add(t, "%lld", jint(p, cols[k]));
		tbl_add(t, "%s", jstr_or(p, "state", "-"));
		tbl_add(t, "%lld", jint(p, "restarts"));
		tbl_add(t, "%s", fmt_secs(up, sizeof(up), jint(p, "uptime_s")));
		tbl_add(t, "%s", jstr_or(p, "desc", "-"));
	}
	tbl_print(t, stdout);
	tbl_free(t);
	return EXIT_OK;
}

int cmd_ps(struct ctl *c)
{
	return ctl_show(c, "core.ps", NULL, show_ps);
}

static int show_version(struct ctl *c, json_t *r)
{
	(void)c;
	printf("%s %s\nbuild: %s\ncompiled: %s\n", jstr_or(r, "name", "srproxy"),
			jstr_or(r, "version", "?"), jstr_or(r, "build", "?"),
			jstr_or(r, "compiled", "?"));
	return EXIT_OK;
}

int cmd_version(struct ctl *c)
{
	return ctl_show(c, "core.version", NULL, show_version);
}

static int show_uptime(struct ctl *c, json_t *r)
{
	time_t since = (time_t)jint(r, "up_since");
	char up[FMT_LEN], when[64];

	(void)c;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&since));
	printf("up %s (%lld s), since %s\n",
			fmt_secs(up, sizeof(up), jint(r, "uptime")),
			jint(r, "uptime"), when);
	return EXIT_OK;
}

int cmd_uptime(struct ctl *c)
{
	return ctl_show(c, "core.uptime", NULL, show_uptime);
}

static int show_methods(struct ctl *c, json_t *r)
{
	const json_t *m;
	size_t i;

	(void)c;
	json_array_foreach(r, i, m)
		if (json_is_string(m))
			printf("%s\n", json_string_value(m));
	return EXIT_OK;
}

int cmd_methods(struct ctl *c)
{
	return ctl_show(c, "system.listMethods", NULL, show_methods);
}

/* --- raw ------------------------------------------------------------------ */

/* A parameter that parses as a JSON number stays a number ("42", "-1.5");
 * everything else is a string, as a shell user typed it. */
static json_t *raw_param(const char *a)
{
	json_t *v = json_loads(a, JSON_DECODE_ANY, NULL);

	if (json_is_number(v))
		return v;
	json_decref(v);
	return json_string(a);
}

int cmd_raw(struct ctl *c)
{
	json_t *params, *r;
	int rc;

	if (c->nargs < 1)
		return ctl_usage_error(c, "raw needs a METHOD");
	params = json_array();
	for (int i = 1; i < c->nargs; i++)
		json_array_append_new(params, raw_param(c->args[i]));
	rc = ctl_call(c, c->args[0], params, &r);
	if (rc)
		return rc;
	json_print(r);
	json_decref(r);
	return EXIT_OK;
}
