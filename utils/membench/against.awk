# against.awk - JSON lines of against.sh's rounds (old.I.json, new.I.json)
# to one Markdown table: per workload, allocator, P and metric the median
# of each build over the rounds and the median of the per-round ratios
# (times and throughputs; plain medians for the rest).  field() and fmt()
# come from jsonl.awk, the rounds from rounds.awk, loaded first.
END {
	print "| workload | allocator | P | metric | old | new | new vs old, median of per-round ratios [min-max] |"
	print "|---|---|---|---|---|---|---|"
	for (q = 1; q <= nkeys; q++) {
		key = order[q]
		split(key, f, SUBSEP)
		summary(key)
		if (r_old == "" || r_new == "") continue
		rs = r_mid != "" && kind(f[5]) != "plain" ? \
			sprintf("%.2fx [%.2f-%.2f]", r_mid, r_lo, r_hi) : "-"
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", f[2], f[3], f[4], f[5],
			fmt(r_old), fmt(r_new), rs
	}
}
