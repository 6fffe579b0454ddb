# w5-latency.gp - W5 latency percentiles per allocator (make plots).
# Reads w5-latency.dat (plotdata.awk): index 0 malloc, index 1 free, in
# the folder `dir` (gnuplot -e "dir='doc'"; default the current one), and
# writes w5-latency.svg there.
set terminal svg size 960,460 dynamic font "sans,11"
if (!exists("dir")) dir = "."
set output dir."/w5-latency.svg"
set multiplot layout 1,2 title "W5 latency: per-op ns, timer cost subtracted (median of runs)"
set logscale y
set ylabel "ns"
set grid ytics
set key top left font "sans,9"
set style data linespoints
set title "malloc"
plot for [i=2:*] dir."/w5-latency.dat" index 0 using i:xtic(1) lw 2 title columnheader(i)
set title "free"
plot for [i=2:*] dir."/w5-latency.dat" index 1 using i:xtic(1) lw 2 title columnheader(i)
unset multiplot
