# w3-scaling.gp - W3 shm-scale: aggregate throughput against P (make plots).
# Reads w3-scaling.dat (plotdata.awk) in the folder `dir` (gnuplot -e
# "dir='doc'"; default the current one) and writes w3-scaling.svg there.
set terminal svg size 720,460 dynamic font "sans,11"
if (!exists("dir")) dir = "."
set output dir."/w3-scaling.svg"
set title "W3 shm-scale: forked workers, W2 ops (our pools: one shared shm pool; system allocators: own heap each)"
set title font "sans,10"
set xlabel "P (worker processes)"
set ylabel "aggregate Mops/s (median)"
set logscale x 2
set xtics (1, 2, 4, 8)
set xrange [0.8:10]
set yrange [0:*]
set key outside right top
set grid
plot for [i=2:*] dir."/w3-scaling.dat" using 1:i with linespoints lw 2 title columnheader(i)
