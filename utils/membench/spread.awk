# spread.awk - JSON lines of N membench invocations (one file each, in
# order) to Markdown tables of the medians side by side (spread.sh).
# Reads the "result" lines' keys by name (jsonl.awk, loaded first).

# "a / b / c" of one figure over the invocations; div scales, base (an
# array key prefix) divides when given.
function across(key, div,    s, k, v) {
	s = ""
	for (k = 1; k <= n; k++) {
		v = (k SUBSEP key) in med ? fmt(med[k, key] / div) : "-"
		s = s (k > 1 ? " / " : "") v
	}
	return s
}

function ratio(a, b,    s, k, v) {
	s = ""
	for (k = 1; k <= n; k++) {
		v = "-"
		if ((k SUBSEP a) in med && (k SUBSEP b) in med && med[k, b] > 0)
			v = sprintf("%.2f", med[k, a] / med[k, b])
		s = s (k > 1 ? " / " : "") v
	}
	return s
}

FNR == 1 { inv++ }
/"type":"(result|failed)"/ {
	# The library's error reports and the failed runs of one cell, the
	# same on each of its lines (a cell with no good run has one line).
	w = field($0, "workload"); a = field($0, "alloc"); p = field($0, "procs")
	liberr[inv, w, a, p] = field($0, "lib_errors") + 0
	nfail[inv, w, a, p] = field($0, "failed") + 0
	if (!((w, a) in seen_a)) { seen_a[w, a] = 1; alloc[w, ++na[w]] = a }
	if (!((w, p) in seen_p)) { seen_p[w, p] = 1; param[w, ++np[w]] = p }
	if (!(w in seen_w)) { seen_w[w] = 1; wl[++nw] = w }
}
/"type":"result"/ {
	med[inv, w, a, p, field($0, "metric")] = field($0, "median")
}

# "e1 / e2 / e3": the library's error reports (and failed runs, if any)
# of one cell per invocation.
function errors(key,    s, k, v) {
	s = ""
	for (k = 1; k <= n; k++) {
		v = (k SUBSEP key) in liberr ? liberr[k, key] : "-"
		if (nfail[k, key] > 0)
			v = v " (" nfail[k, key] " failed)"
		s = s (k > 1 ? " / " : "") v
	}
	return s
}

function table(w,    x, y, a, p, tp, lock, label, xp1, xl, key) {
	tp = w == "w4" ? "msgs_per_s" : "ops_per_s"
	printf "%s: medians of invocations 1 / 2 / 3 ...\n\n", w
	if (w == "w4")
		print "| allocator | pairs | Mmsgs/s | xP=1 | x lock-only | faults/Mop | vol cs/Mop | invol cs/Mop | library errors |"
	else
		print "| allocator | P | Mops/s | xP=1 | x lock-only | faults/Mop | vol cs/Mop | invol cs/Mop | library errors |"
	print "|---|---|---|---|---|---|---|---|---|"
	for (x = 1; x <= na[w]; x++) {
		a = alloc[w, x]
		lock = a "-lock"
		for (y = 1; y <= np[w]; y++) {
			p = param[w, y]
			label = w == "w4" ? p "+" p : p
			key = w SUBSEP a SUBSEP p
			xp1 = xl = "-"
			if (w == "w3" && a != "none")
				xp1 = ratio(key SUBSEP tp,
					w SUBSEP a SUBSEP param[w, 1] SUBSEP tp)
			if ((w, lock) in seen_a)
				xl = ratio(key SUBSEP tp, w SUBSEP lock SUBSEP p SUBSEP tp)
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				a, label, across(key SUBSEP tp, 1e6), xp1, xl,
				across(key SUBSEP "faults_per_mop", 1),
				across(key SUBSEP "vcsw_per_mop", 1),
				across(key SUBSEP "ivcsw_per_mop", 1), errors(key)
		}
	}
	print ""
}

# Does any invocation have this metric for allocator a of workload w?
function has_metric(w, a, m,    k, y) {
	for (k = 1; k <= n; k++)
		for (y = 1; y <= np[w]; y++)
			if ((k SUBSEP w SUBSEP a SUBSEP param[w, y] SUBSEP m) in med)
				return 1
	return 0
}

# The shared pool's global lock and its caches' traffic with the heap, per
# million ops (our shm pools only: shm_lock_stats, shm_cache_flow).
function shared_table(w,    x, y, a, p, key, any, label) {
	for (x = 1; x <= na[w]; x++)
		any += has_metric(w, alloc[w, x], "lock_acq_per_mop")
	if (!any)
		return
	printf "%s: the global lock and the caches' traffic with the heap per million ops, medians of invocations 1 / 2 / 3 ... (refills: cache misses served in a lock section; cut: fragments they cut from the heap; to heap: fragments the caches gave back to it; the rest went through the depot)\n\n", w
	print "| allocator | " (w == "w4" ? "pairs" : "P") " | lock sections | sleeps | refills | cut | to heap |"
	print "|---|---|---|---|---|---|---|"
	for (x = 1; x <= na[w]; x++) {
		a = alloc[w, x]
		if (!has_metric(w, a, "lock_acq_per_mop"))
			continue
		for (y = 1; y <= np[w]; y++) {
			p = param[w, y]
			label = w == "w4" ? p "+" p : p
			key = w SUBSEP a SUBSEP p
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", a, label,
				across(key SUBSEP "lock_acq_per_mop", 1),
				across(key SUBSEP "lock_sleeps_per_mop", 1),
				across(key SUBSEP "cache_refills_per_mop", 1),
				across(key SUBSEP "cache_cut_per_mop", 1),
				across(key SUBSEP "cache_to_heap_per_mop", 1)
		}
	}
	print ""
}

END {
	for (x = 1; x <= nw; x++) {
		table(wl[x])
		shared_table(wl[x])
	}
}
