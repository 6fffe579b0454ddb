# plotdata.awk - membench --json lines to gnuplot data (make plots).
#
#   awk -v want=w3 -f plotdata.awk results.json > w3-scaling.dat
#       P, then aggregate Mops/s per allocator (one column each)
#   awk -v want=w5 -f plotdata.awk results.json > w5-latency.dat
#       two blocks (gnuplot index 0: malloc, 1: free): percentile, then
#       ns per allocator
# Reads the fixed key order of report.c's JSON; the harness is left out
# (it is no allocator).  Medians only; given several invocations' files
# (spread.sh's inv*.json), the median of their medians.

function val(key,    s) {
	if (!match($0, "\"" key "\":\"?[^,\"}]*"))
		return ""
	s = substr($0, RSTART, RLENGTH)
	sub(/^"[^"]*":"?/, "", s)
	return s
}

function add_alloc(a) {
	if (!(a in seen)) {
		seen[a] = 1
		order[++nalloc] = a
	}
}

val("type") == "result" && val("workload") == want && val("alloc") != "none" {
	a = val("alloc"); m = val("metric")
	if (want == "w3" && m == "ops_per_s") {
		add_alloc(a)
		p = val("procs")
		if (!(p in pseen)) { pseen[p] = 1; procs[++np] = p }
		keep(a SUBSEP p, val("median") / 1e6)
	} else if (want == "w5" && m ~ /^(malloc|free)_(p50|p99|p99\.9|p99\.99|max)_ns$/) {
		add_alloc(a)
		keep(a SUBSEP m, val("median"))
	}
}

# Values of one key, one per input file; v[key] is their median.
function keep(key, x,    i, t) {
	i = ++nv[key]
	all[key, i] = x
	for (; i > 1 && all[key, i - 1] > all[key, i]; i--) {
		t = all[key, i]; all[key, i] = all[key, i - 1]; all[key, i - 1] = t
	}
	i = nv[key]
	v[key] = i % 2 ? all[key, (i + 1) / 2] : (all[key, i / 2] + all[key, i / 2 + 1]) / 2
}

function header(first,    k, s) {
	s = first
	for (k = 1; k <= nalloc; k++)
		s = s "\t" order[k]
	print s
}

function w3(    i, k, s) {
	header("P")
	for (i = 1; i <= np; i++) {
		s = procs[i]
		for (k = 1; k <= nalloc; k++)
			s = s "\t" ((order[k], procs[i]) in v ? v[order[k], procs[i]] : "NaN")
		print s
	}
}

function w5(    o, i, k, s, m, ops, pct) {
	split("malloc free", ops, " ")
	split("p50 p99 p99.9 p99.99 max", pct, " ")
	for (o = 1; o <= 2; o++) {
		if (o == 2)
			printf "\n\n"
		header(ops[o])
		for (i = 1; i <= 5; i++) {
			s = pct[i]
			for (k = 1; k <= nalloc; k++) {
				m = ops[o] "_" pct[i] "_ns"
				s = s "\t" ((order[k], m) in v ? v[order[k], m] : "NaN")
			}
			print s
		}
	}
}

END {
	if (!nalloc) {
		print "plotdata: no " want " results in the input" > "/dev/stderr"
		exit 1
	}
	if (want == "w3") w3(); else w5()
}
