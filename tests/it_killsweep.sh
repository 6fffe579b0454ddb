# The kill sweep (tests/killsweep.c, doc/RELIABILITY.md): in the build's
# kill-point library (build/<tag>/killpoints, `make killsweep`), a victim
# killed at each site of fixed sequences of shm calls (PER_SITE points of
# each), then deaths in a row; after every trial no hang, no abort, no
# byte lost, a clean heap check.  KILLSWEEP_SEQS sequences per backend
# (default 8, as `make killsweep`); KILLSWEEP_ARGS="8 0" every point.
# run-all.sh runs it where it runs the kill storm (KILLSTORM=0 elsewhere).
set -e
n=${KILLSWEEP_SEQS:-8}
for b in fm qm tlsf; do
	"$BUILD/killpoints/killsweep" "$b" "$n" 3
done
