# against.awk - JSON lines of against.sh's rounds (old.I.json, new.I.json)
# to one Markdown table: per workload, allocator, P and metric the median
# of each build over the rounds and the median of the per-round ratios.
# field() and fmt() come from jsonl.awk, loaded first.

# Median of the k values in vals[1..k] (insertion sort: k is small).
function median(vals, k,    i, j, t) {
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && vals[j - 1] > vals[j]; j--) {
			t = vals[j]; vals[j] = vals[j - 1]; vals[j - 1] = t
		}
	return k % 2 ? vals[(k + 1) / 2] : (vals[k / 2] + vals[k / 2 + 1]) / 2
}

# Which metrics are shown and how their ratio reads.
function kind(m) {
	if (m ~ /_ns$|^ns_per_op$|^cpu_ns_per_op$/) return "time"
	if (m == "ops_per_s") return "rate"
	if (m ~ /_per_mop$|^overhead$/) return "plain"
	return ""
}

/"type":"result"/ {
	b = FILENAME; sub(/.*\//, "", b)
	split(b, part, ".")              # old|new, round
	m = field($0, "metric")
	if (kind(m) == "" || field($0, "alloc") == "none")
		next
	key = field($0, "workload") SUBSEP field($0, "alloc") SUBSEP \
		field($0, "procs") SUBSEP m
	if (!(key in seen)) { seen[key] = 1; order[++nkeys] = key }
	val[part[1], part[2], key] = field($0, "median")
}

END {
	print "| workload | allocator | P | metric | old | new | new vs old, median of per-round ratios [min-max] |"
	print "|---|---|---|---|---|---|---|"
	for (q = 1; q <= nkeys; q++) {
		key = order[q]
		split(key, f, SUBSEP)
		ko = kn = kr = 0; lo = hi = ""
		for (r = 1; r <= n; r++) {
			hasold = ("old" SUBSEP r SUBSEP key) in val
			hasnew = ("new" SUBSEP r SUBSEP key) in val
			if (hasold) vo[++ko] = val["old", r, key]
			if (hasnew) vn[++kn] = val["new", r, key]
			if (!hasold || !hasnew) continue
			o = val["old", r, key]; w = val["new", r, key]
			x = kind(f[4]) == "time" ? (w > 0 ? o / w : "") : \
			    kind(f[4]) == "rate" ? (o > 0 ? w / o : "") : ""
			if (x == "") continue
			vr[++kr] = x
			if (lo == "" || x < lo) lo = x
			if (hi == "" || x > hi) hi = x
		}
		if (!ko || !kn) continue
		rs = kr ? sprintf("%.2fx [%.2f-%.2f]", median(vr, kr), lo, hi) : "-"
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3], f[4],
			fmt(median(vo, ko)), fmt(median(vn, kn)), rs
	}
}
