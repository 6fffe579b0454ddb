# rounds.awk - what against.awk, beforeafter.awk and targets.awk share:
# the JSON lines of against.sh's rounds (DIR/old.I.json, DIR/new.I.json)
# collected per DIR, workload, allocator, P and metric, and one key's
# medians over the rounds and the median of its per-round ratios.
# field() comes from jsonl.awk, loaded first; other files are left to
# the scripts that load this one.

# Median of the k values in vals[1..k] (insertion sort: k is small).
function median(vals, k,    i, j, t) {
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && vals[j - 1] > vals[j]; j--) {
			t = vals[j]; vals[j] = vals[j - 1]; vals[j - 1] = t
		}
	return k % 2 ? vals[(k + 1) / 2] : (vals[k / 2] + vals[k / 2 + 1]) / 2
}

# Which metrics are kept and how their ratio reads: "time" old / new and
# "rate" new / old (above 1 is faster), "plain" new / old (overhead,
# counts per Mop: below 1 is fewer).
function kind(m) {
	if (m ~ /_ns$|^ns_per_op$|^cpu_ns_per_op$/) return "time"
	if (m == "ops_per_s" || m == "msgs_per_s") return "rate"
	if (m ~ /_per_mop$|^overhead$/) return "plain"
	return ""
}

FILENAME ~ /(^|\/)(old|new)\.[0-9]+\.json$/ && /"type":"result"/ {
	b = FILENAME; sub(/.*\//, "", b)
	split(b, part, ".")              # old|new, round
	d = FILENAME; sub(/\/?[^\/]*$/, "", d); sub(/.*\//, "", d)
	m = field($0, "metric")
	if (kind(m) == "" || field($0, "alloc") == "none")
		next
	key = d SUBSEP field($0, "workload") SUBSEP field($0, "alloc") SUBSEP \
		field($0, "procs") SUBSEP m
	if (!(key in seen)) { seen[key] = 1; order[++nkeys] = key }
	val[part[1], part[2], key] = field($0, "median") + 0   # a number: compared
	if (part[2] > rounds) rounds = part[2]
}

# One key over the rounds: r_old and r_new (medians of each build, ""
# when a build has none), r_mid, r_lo and r_hi (the per-round ratios'
# median and range, r_mid "" when no round has both).
function summary(key,    r, ko, kn, kr, hasold, hasnew, o, w, x, t, vo, vn, vr) {
	ko = kn = kr = 0; r_lo = r_hi = r_mid = r_old = r_new = ""
	split(key, t, SUBSEP)
	for (r = 1; r <= rounds; r++) {
		hasold = ("old" SUBSEP r SUBSEP key) in val
		hasnew = ("new" SUBSEP r SUBSEP key) in val
		if (hasold) vo[++ko] = val["old", r, key]
		if (hasnew) vn[++kn] = val["new", r, key]
		if (!hasold || !hasnew) continue
		o = val["old", r, key]; w = val["new", r, key]
		x = kind(t[5]) == "time" ? (w > 0 ? o / w : "") : (o > 0 ? w / o : "")
		if (x == "") continue
		vr[++kr] = x
		if (r_lo == "" || x < r_lo) r_lo = x
		if (r_hi == "" || x > r_hi) r_hi = x
	}
	if (ko) r_old = median(vo, ko)
	if (kn) r_new = median(vn, kn)
	if (kr) r_mid = median(vr, kr)
}
