# targets.awk - "Against the targets": every goal of issues 12 and 14
# (and the earlier W5 tail and W6s-against-the-lock goals) next to what
# one bench-full.sh run measured for it, each with its spread and whether
# it is met.  Reads the run's JSON: the W3 and W4 sections' invocations
# (w3-dN/invI.json, w4-dN/...), W2's and W5's (w2-dN.json, w5-dN.json),
# W6's and W6s's seeds (w6-seeds-d0/invI.json, ...: seeds.awk collects
# them) and the before/after rounds (against-*/old.I.json ...: rounds.awk,
# with issue 14's goals from beforeafter.awk).  Loaded after jsonl.awk,
# rounds.awk, seeds.awk and beforeafter.awk; prints with -v want=targets.
# A goal whose figure the run lacks (another --builds, an allocator not
# installed) has no row or says "not measured".

# The W3 goals again with 2 MiB shm pages (the huge-w3 section, release
# build: bench-full sets shmem_enabled for it where it may).
function huge(    sec) {
	sec = "huge-w3"
	if (!(sec in ninv))
		return
	perinv(sec, "w3", "tlsf", 2, "tlsf", 1, 1.6)
	row("W3 tlsf with 2 MiB shm pages: P=2 at least 1.6x P=1, release build (MEMDBG=0), every invocation",
		sec, "xP=1 per invocation " t_text, verdict(t_ok, t_n))
	perinv(sec, "w3", "tlsf", 8, "tlsf", 1, 1.4)
	row("W3 tlsf with 2 MiB shm pages: P=8 at least 1.4x P=1, release build (MEMDBG=0), every invocation",
		sec, "xP=1 per invocation " t_text, verdict(t_ok, t_n))
}

# A file's tag: "w3-d0/inv2" for an invocation, "w2-d0" for a section's.
function tagof(f,    t, k, part) {
	t = f; sub(/\.json$/, "", t)
	k = split(t, part, "/")
	return part[k] ~ /^inv[0-9]+$/ ? part[k - 1] "/" part[k] : part[k]
}

FILENAME !~ /(^|\/)(old|new)\.[0-9]+\.json$/ && /"type":"result"/ {
	t = tagof(FILENAME)
	if (t ~ /\/inv[0-9]+$/) {
		s = t; sub(/\/inv/, " ", s); split(s, si, " ")
		if (si[2] > ninv[si[1]]) ninv[si[1]] = si[2]
	}
	k = t SUBSEP field($0, "workload") SUBSEP field($0, "alloc") SUBSEP \
		field($0, "procs") SUBSEP field($0, "metric")
	tmed[k] = field($0, "median") + 0; tmin[k] = field($0, "min") + 0
	tmax[k] = field($0, "max") + 0
}

function bname(b) { return b == "d0" ? "release build (MEMDBG=0)" : "default build (MEMDBG=1)" }

# Per invocation of section SEC (w3-d0 ...), throughput of A at P over
# that of B at Q: "x1 / x2 / x3" into t_text, how many reach goal g into
# t_ok, how many were measured into t_n.
function perinv(sec, w, a, p, b, q, g,    i, m, x, y, k) {
	m = w == "w4" ? "msgs_per_s" : "ops_per_s"
	t_text = ""; t_ok = t_n = 0
	for (i = 1; i <= ninv[sec]; i++) {
		k = sec "/inv" i SUBSEP w
		x = (k SUBSEP a SUBSEP p SUBSEP m) in tmed ? tmed[k, a, p, m] : ""
		y = (k SUBSEP b SUBSEP q SUBSEP m) in tmed ? tmed[k, b, q, m] : ""
		if (x == "" || y == "" || y <= 0) {
			t_text = t_text (i > 1 ? " / " : "") "-"
			continue
		}
		t_text = t_text (i > 1 ? " / " : "") sprintf("%.2f", x / y)
		t_n++
		if (x / y >= g) t_ok++
	}
}

function verdict(ok, n) {
	return n == 0 ? "not measured" : ok == n ? "yes" : ok == 0 ? "no" : \
		sprintf("no (%d of %d)", ok, n)
}

function row(goal, from, measured, met) {
	printf "| %s | %s | %s | %s |\n", goal, from, measured, met
}

# Issue 12's W3 and W4 goals in build b.
function scaling(b,    sec, ok, n, text, p) {
	sec = "w3-" b
	if (!(sec in ninv))
		return
	perinv(sec, "w3", "tlsf", 2, "tlsf", 1, 1.6)
	row("W3 tlsf: P=2 at least 1.6x P=1, " bname(b) ", every invocation", sec,
		"xP=1 per invocation " t_text, verdict(t_ok, t_n))
	perinv(sec, "w3", "tlsf", 8, "tlsf", 1, 1.4)
	row("W3 tlsf: P=8 at least 1.4x P=1, " bname(b) ", every invocation", sec,
		"xP=1 per invocation " t_text, verdict(t_ok, t_n))
	ok = n = 0; text = ""
	for (p = 2; p <= 8; p *= 4) {
		perinv(sec, "w3", "tlsf", p, "tlsf-lock", p, 2)
		ok += t_ok; n += t_n
		text = text (p > 2 ? "; " : "") "P=" p " " t_text
	}
	row("W3: caches at least 2x the global-lock mode at P=2 and P=8, " bname(b),
		sec, "tlsf / tlsf-lock per invocation: " text, verdict(ok, n))
	sec = "w4-" b
	ok = n = 0; text = ""
	for (p = 1; p <= 2; p++) {
		perinv(sec, "w4", "tlsf", p, "tlsf-lock", p, 2)
		ok += t_ok; n += t_n
		text = text (p > 1 ? "; " : "") p "+" p " " t_text
	}
	row("W4: caches at least 2x the global-lock mode, 1+1 and 2+2, " bname(b),
		sec, "tlsf / tlsf-lock per invocation: " text, verdict(ok, n))
}

# "median [min-max]" of one figure of a section's own JSON.
function spread(k, f) {
	return sprintf(f " [" f "-" f "]", tmed[k], tmin[k], tmax[k])
}

function single(    k, j, t, m) {
	k = "w2-d0" SUBSEP "w2" SUBSEP "tlsf" SUBSEP 1 SUBSEP "ns_per_op"
	j = "w2-d0" SUBSEP "w2" SUBSEP "jemalloc" SUBSEP 1 SUBSEP "ns_per_op"
	if (!(k in tmed))
		return
	if (j in tmed)
		row("W2 tlsf ns/op at or below jemalloc's, same run, MEMDBG=0", "w2-d0",
			"tlsf " spread(k, "%.1f") " ns, jemalloc " spread(j, "%.1f") \
			sprintf(" ns: %.2fx", tmed[k] / tmed[j]),
			tmed[k] <= tmed[j] ? "yes" : "no")
	else
		row("W2 tlsf ns/op at or below jemalloc's, same run, MEMDBG=0", "w2-d0",
			"tlsf " spread(k, "%.1f") " ns; jemalloc not in this run", "not measured")
	m = "w2-d0" SUBSEP "w2" SUBSEP "tlsf" SUBSEP 1 SUBSEP "overhead"
	if (m in tmed)
		row("W2 tlsf overhead at most 1.05, MEMDBG=0", "w2-d0",
			sprintf("%.3f", tmed[m]), tmed[m] <= 1.05 ? "yes" : "no")
}

# W5's tail (pre-faulted), build b: p99.99 of malloc and free of every
# backend, the median of the runs [min-max], met when both are <= 2 us.
function tail5(b,    x, a, km, kf, text, ok, n, be) {
	split("tlsf fm qm", be, " ")
	text = ""; ok = n = 0
	for (x = 1; x <= 3; x++) {
		a = be[x]
		km = "w5-" b SUBSEP "w5" SUBSEP a SUBSEP 1 SUBSEP "malloc_p99.99_ns"
		kf = "w5-" b SUBSEP "w5" SUBSEP a SUBSEP 1 SUBSEP "free_p99.99_ns"
		if (!(km in tmed) || !(kf in tmed))
			continue
		text = text (n ? "; " : "") a " " spread(km, "%.0f") " / " spread(kf, "%.0f")
		n++
		if (tmed[km] <= 2000 && tmed[kf] <= 2000) ok++
	}
	if (n)
		row("W5 p99.99 of malloc and of free at most 2 us, " bname(b),
			"w5-" b, "ns, malloc / free: " text, verdict(ok, n))
}

# Faults in W3's timed phase (the workers populate after fork), build b:
# tlsf's faults per Mop at P = 1, 2, 8, the highest over the invocations.
function faults(b,    sec, p, i, k, v, hi, text, ok, n) {
	sec = "w3-" b
	if (!(sec in ninv))
		return
	text = ""; ok = n = 0
	for (p = 1; p <= 8; p *= (p == 2 ? 4 : 2)) {
		hi = ""
		for (i = 1; i <= ninv[sec]; i++) {
			k = sec "/inv" i SUBSEP "w3" SUBSEP "tlsf" SUBSEP p SUBSEP "faults_per_mop"
			if (k in tmed && (hi == "" || tmed[k] > hi)) hi = tmed[k]
		}
		if (hi == "")
			continue
		text = text (n ? " / " : "") fmt(hi)
		n++
		if (hi <= 100) ok++
	}
	if (n)
		row("shm page faults a start-up cost: W3 tlsf faults per Mop in the timed phase at most 100 (2,600-11,000 when the workers fault the segment in), " bname(b),
			sec, "P=1 / 2 / 8, highest of the invocations: " text, verdict(ok, n))
}

# W6 and W6s utilisation over seeds (seeds.awk's sums, in %).
function fill(w, a, what,    c) {
	c = cnt[w, a]
	if (!c)
		return
	row("W" substr(w, 2) " " what " utilisation at least 0.90, mean over seeds, MEMDBG=0",
		w "-seeds-d0", sprintf("%.3f [%.3f-%.3f], %d seeds", sum[w, a] / c / 100,
			lo[w, a] / 100, hi[w, a] / 100, c),
		sum[w, a] / c >= 90 ? "yes" : "no")
}

# Issue 14's goal of one figure for fm, qm and tlsf from the before/after
# rounds: per backend "ratio [min-max]" (suffix of the allocator name sfx,
# P list ps), met when every P meets it.
function before(label, b, w, ps, m, sfx,    x, y, a, np, pl, be, key, g, text, ok, n, all, none, mets, nogoal) {
	split("fm qm tlsf", be, " ")
	np = split(ps, pl, " ")
	text = mets = ""; all = 1; none = 1
	for (x = 1; x <= 3; x++) {
		a = be[x]; ok = n = 0
		text = text (x > 1 ? "; " : "") a
		for (y = 1; y <= np; y++) {
			key = bakey(b, w, a sfx, pl[y], m)
			if (key == "") { text = text " -"; continue }
			summary(key)
			g = goal14(b, a sfx, w, pl[y], m)
			text = text (y > 1 ? " /" : "") " " ratiotext(m)
			n++
			if (met14(g) == "yes") ok++
			if (g == "") nogoal = 1
		}
		if (!n) { all = 0; continue }
		mets = mets (mets == "" ? "" : ", ") a " " (ok == n ? "yes" : "no")
		if (ok < n) all = 0; else none = 0
	}
	if (mets == "")
		return
	row(label, "before-after", text, nogoal ? "- (no goal: shown beside the row above)" : \
		all ? "yes" : none ? "no" : mets)
}

function issue14(b,    bl) {
	bl = b == "d0" ? "release" : "MEMDBG=1"
	if (!bakey(b, "w2", "fm", 1, "ns_per_op"))
		return
	before("W2 ns/op, " bl ": " (b == "d0" ? "fm, qm 1.45x, tlsf 1.2x" : \
		"fm 1.25x, qm 1.1x, tlsf 1.2x") " faster than 4ce4f3f",
		b, "w2", "1", "ns_per_op", "")
	before("the same in CPU time per op, " bl, b, "w2", "1", "cpu_ns_per_op", "")
	before("W2 overhead not worse than 4ce4f3f's (now / 4ce4f3f), " bl, b, "w2", "1", "overhead", "")
}

function issue14_lock(    key, f1, f2, m1, m2, c1, c2) {
	if (bakey("d0", "w1", "fm", 1, "free_fifo_ns")) {
		key = bakey("d0", "w1", "fm", 1, "free_fifo_ns"); summary(key)
		f1 = ratiotext("x"); m1 = met14(2.5)
		key = bakey("d0", "w1", "fm", 1, "free_lifo_ns"); summary(key)
		f2 = ratiotext("x"); m2 = met14(2.5)
		key = bakey("d0", "w1", "fm", 1, "cpu_free_fifo_ns"); summary(key)
		c1 = ratiotext("x")
		key = bakey("d0", "w1", "fm", 1, "cpu_free_lifo_ns"); summary(key)
		c2 = ratiotext("x")
		row("W1 fm frees at least 2.5x faster than 4ce4f3f, FIFO and LIFO, release",
			"before-after", "FIFO " f1 " (CPU " c1 "); LIFO " f2 " (CPU " c2 ")",
			m1 == "yes" && m2 == "yes" ? "yes" : "no")
	}
	before("W3 caches off, P=2 / 4 / 8: at least 1.3x the throughput of 4ce4f3f's, release, as each build ships (populate on here, none in 4ce4f3f)",
		"d0", "w3", "2 4 8", "ops_per_s", "-lock")
	before("W3 caches off, P=2 / 4 / 8: fewer context switches per Mop than 4ce4f3f (now / 4ce4f3f), release, as each build ships",
		"d0", "w3", "2 4 8", "vcsw_per_mop", "-lock")
	before("W3 caches off, P=2 / 4 / 8, throughput, both builds faulting the segment in (populate off: what the lock and the heap alone buy), release",
		"d0-w3faulted", "w3", "2 4 8", "ops_per_s", "-lock")
	before("W3 caches off, P=2 / 4 / 8, context switches per Mop, both builds faulting, release",
		"d0-w3faulted", "w3", "2 4 8", "vcsw_per_mop", "-lock")
}

function targets(    b) {
	print "Issue 12's and issue 14's goals, each against this run's figure for it; \"from\" names the section that holds the figure (before-after: the tables of \"Single worker and behind the lock: against commit 4ce4f3f\")."
	print ""
	print "| goal | from | measured | met? |"
	print "|---|---|---|---|"
	scaling("d1"); scaling("d0")
	huge()
	single()
	fill("w6", "tlsf", "tlsf (pkg)")
	fill("w6s", "tlsf", "tlsf (shm, caches)")
	fill("w6s", "tlsf-lock", "tlsf (shm, global lock only)")
	if (cnt["w6s", "tlsf"] && cnt["w6s", "tlsf-lock"])
		row("W6s tlsf with the caches within 2 points of the global-lock mode, mean over seeds, MEMDBG=0",
			"w6s-seeds-d0", sprintf("%.1f %% against %.1f %%", sum["w6s", "tlsf"] / cnt["w6s", "tlsf"],
				sum["w6s", "tlsf-lock"] / cnt["w6s", "tlsf-lock"]),
			sum["w6s", "tlsf"] / cnt["w6s", "tlsf"] >= \
				sum["w6s", "tlsf-lock"] / cnt["w6s", "tlsf-lock"] - 2 ? "yes" : "no")
	tail5("d1"); tail5("d0")
	faults("d1"); faults("d0")
	issue14("d0"); issue14("d1")
	issue14_lock()
	print ""
}

END {
	if (want == "targets")
		targets()
}
