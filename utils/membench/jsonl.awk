# jsonl.awk - what spread.awk and against.awk share: a key of one of
# membench's JSON lines by name, and a figure as the tables print it.
# Loaded before them: awk -f jsonl.awk -f spread.awk ...

function field(line, key,    re, v) {
	re = "\"" key "\":(\"[^\"]*\"|[-0-9.e+]+)"
	if (!match(line, re))
		return ""
	v = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
	gsub(/"/, "", v)
	return v
}

function fmt(v) {
	if (v == "")
		return "-"
	if (v >= 100)
		return sprintf("%.0f", v)
	if (v >= 10)
		return sprintf("%.1f", v)
	return sprintf("%.2f", v)
}
