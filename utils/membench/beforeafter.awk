# beforeafter.awk - issue 14's before/after tables from bench-full.sh's
# against.sh rounds (DIR/old.I.json = commit 4ce4f3f's library, DIR/new.I.json
# = this tree, one DIR per build and workload group: against-d0-pkg,
# against-d0-w3, against-d1-pkg): a table per backend, one row per
# metric, with issue 14's goal and whether the rounds meet it.  The goals
# live here (goal14, met14) and targets.awk quotes them.
# Loaded after jsonl.awk and rounds.awk; prints with -v want=before-after.

# The key of build B (d0, d1), workload W, allocator A, P and metric M
# among the rounds' keys, "" when the run has none.  Plain "d0" finds the
# builds as they ship (groups pkg and w3); B may name another group:
# "d0-w3faulted" is W3 with populate off in both builds, "d1-pkg4k" W2
# with both builds' pkg pools in 4 KiB pages.
function bakey(b, w, a, p, m,    q, f, want) {
	want = b ~ /-/ ? "(^|-)" b "$" : "(^|-)" b "-(pkg|w3)$"
	for (q = 1; q <= nkeys; q++) {
		split(order[q], f, SUBSEP)
		if (f[1] ~ want && f[2] == w && f[3] == a && f[4] == p && f[5] == m)
			return order[q]
	}
	return ""
}

# Issue 14's goal for a row: a least ratio (speed-up), "not worse"
# (overhead: now <= 4ce4f3f), "fewer" (context switches), or "".
function goal14(b, a, w, p, m) {
	sub(/-lock$/, "", a)
	if (b ~ /-/)    # both builds alike (faulting, 4 KiB pages): no goal
		return ""
	if (w == "w2" && (m == "ns_per_op" || m == "cpu_ns_per_op"))
		return b == "d0" ? (a == "tlsf" ? 1.2 : 1.45) : \
			(a == "fm" ? 1.25 : a == "qm" ? 1.1 : 1.2)
	if (w == "w2" && m == "overhead")
		return "not worse"
	if (w == "w1" && a == "fm" && b == "d0" && m ~ /free_(fifo|lifo)_ns$/)
		return 2.5
	if (w == "w3" && p >= 2 && m == "ops_per_s")
		return 1.3
	if (w == "w3" && p >= 2 && m == "vcsw_per_mop")
		return "fewer"
	return ""
}

function goaltext(g) {
	return g == "" ? "-" : g ~ /^[0-9.]+$/ ? sprintf("at least %gx", g) : g
}

# Whether the summary() just made meets goal g: "yes", "no", or "-".
function met14(g) {
	if (g == "" || r_old == "" || r_new == "")
		return "-"
	if (g == "not worse")
		return sprintf("%.3f", r_new) + 0 <= sprintf("%.3f", r_old) + 0 ? "yes" : "no"
	if (g == "fewer")
		return r_new < r_old ? "yes" : "no"
	return r_mid != "" && r_mid >= g ? "yes" : "no"
}

# The ratio of the summary() just made, as the tables print it.
function ratiotext(m) {
	if (r_mid == "")
		return "-"
	return sprintf(m == "overhead" ? "%.3f [%.3f-%.3f]" : \
		kind(m) == "plain" ? "%.2f [%.2f-%.2f]" : "%.2fx [%.2f-%.2f]",
		r_mid, r_lo, r_hi)
}

function value(v, m) {
	return v == "" ? "-" : m == "overhead" ? sprintf("%.3f", v) : \
		m == "ops_per_s" ? fmt(v / 1e6) : fmt(v)
}

# One row: label, then build B's figures for A, W, P, M.
function barow(label, b, a, w, p, m,    key, g) {
	key = bakey(b, w, a, p, m)
	if (key == "")
		return
	summary(key)
	g = goal14(b, a, w, p, m)
	printf "| %s | %s | %s | %s | %s | %s |\n", label, value(r_old, m),
		value(r_new, m), ratiotext(m), goaltext(g), met14(g)
}

function batable(a, name,    b, bl, ph, k, p, phases, label) {
	split("alloc free_fifo free_lifo free_random", phases, " ")
	split("alloc|free FIFO|free LIFO|free random", label, "|")
	printf "**%s** (`%s`; W3: `%s-lock`, the shm caches off)\n\n", name, a, a
	print "| metric | 4ce4f3f | now | ratio, median of rounds [min-max] | issue 14 goal | met? |"
	print "|---|---|---|---|---|---|"
	for (b = 0; b <= 1; b++) {
		bl = b ? ", MEMDBG=1" : ""
		barow("W2 ns/op" bl, "d" b, a, "w2", 1, "ns_per_op")
		barow("W2 CPU ns/op" bl, "d" b, a, "w2", 1, "cpu_ns_per_op")
		barow("W2 overhead" bl, "d" b, a, "w2", 1, "overhead")
		barow("W2 ns/op, both in 4 KiB pages" bl, "d" b "-pkg4k", a, "w2", 1, "ns_per_op")
		for (k = 1; k <= 4; k++) {
			ph = label[k]
			if (!b)
				barow("W1 " ph " ns" bl, "d" b, a, "w1", 1, phases[k] "_ns")
			barow("W1 " ph " CPU ns" bl, "d" b, a, "w1", 1, "cpu_" phases[k] "_ns")
		}
		for (p = 2; p <= 8; p *= 2)
			barow("W3 caches off, P=" p ", Mops/s" bl, "d" b, a "-lock", "w3", p, "ops_per_s")
		for (p = 2; p <= 8; p *= 2)
			barow("W3 caches off, P=" p ", vol cs/Mop" bl, "d" b, a "-lock", "w3", p, "vcsw_per_mop")
		for (p = 2; p <= 8; p *= 2)
			barow("W3 caches off, P=" p ", Mops/s, both faulting" bl, "d" b "-w3faulted", a "-lock", "w3", p, "ops_per_s")
		for (p = 2; p <= 8; p *= 2)
			barow("W3 caches off, P=" p ", vol cs/Mop, both faulting" bl, "d" b "-w3faulted", a "-lock", "w3", p, "vcsw_per_mop")
	}
	print ""
}

function batables() {
	print "Ratio: for times 4ce4f3f / now and for throughput now / 4ce4f3f (above 1 is faster), for overhead and context switches now / 4ce4f3f (below 1 is less); the median of the per-round ratios, [lowest-highest round]."
	print ""
	batable("fm", "f_malloc")
	batable("qm", "q_malloc")
	batable("tlsf", "TLSF")
}

END {
	if (want == "before-after")
		batables()
}
