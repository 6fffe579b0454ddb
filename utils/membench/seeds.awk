# seeds.awk - JSON lines of one membench command over several seeds (one
# file per seed: spread.sh --seeds) to a Markdown table per workload:
# utilisation's mean, lowest and highest over the seeds, the mean worst
# round, and the library's error reports.  Reads keys by name (jsonl.awk, loaded first).
/"type":"(result|failed)"/ {
	w = field($0, "workload"); a = field($0, "alloc")
	if (!(w in seen_w)) { seen_w[w] = 1; wl[++nw] = w }
	if (!((w, a) in seen_a)) { seen_a[w, a] = 1; alloc[w, ++na[w]] = a }
	key = w SUBSEP a SUBSEP FILENAME
	if (!(key in counted)) {
		counted[key] = 1
		errs[w, a] += field($0, "lib_errors")
	}
}
/"type":"result"/ && /"metric":"utilisation"/ {
	v = field($0, "median") * 100
	k = ++cnt[w, a]; sum[w, a] += v
	if (k == 1 || v < lo[w, a]) lo[w, a] = v
	if (k == 1 || v > hi[w, a]) hi[w, a] = v
}
/"type":"result"/ && /"metric":"utilisation_min"/ {
	worst[w, a] += field($0, "median") * 100
}
# The tables; targets.awk loads this file for its sums and prints its own.
function seed_tables(    x, y, w, a, c) {
	for (x = 1; x <= nw; x++) {
		w = wl[x]
		printf "%s: utilisation %% over seeds 1..%d (each seed: median of its runs)\n\n", w, n
		print "| allocator | mean % | lowest % | highest % | mean worst round % | seeds | library errors |"
		print "|---|---|---|---|---|---|---|"
		for (y = 1; y <= na[w]; y++) {
			a = alloc[w, y]; c = cnt[w, a]
			if (c)
				printf "| %s | %.1f | %.1f | %.1f | %.1f | %d | %d |\n", a,
					sum[w, a] / c, lo[w, a], hi[w, a], worst[w, a] / c, c,
					errs[w, a]
			else
				printf "| %s | failed | - | - | - | 0 | %d |\n", a, errs[w, a]
		}
		print ""
	}
}

END {
	if (want == "")
		seed_tables()
}
