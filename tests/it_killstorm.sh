# The kill storm (tests/prog_killstorm.c, doc/RELIABILITY.md): under load,
# SIGKILL random workers at random moments; after every trial no hang, no
# abort, no byte lost, a clean heap check.  KILLSTORM_TRIALS trials per
# backend (default 60); `make stress` runs 1,000.  run-all.sh runs this
# driver in a few configurations only (KILLSTORM=0 elsewhere, run.sh).
set -e
n=${KILLSTORM_TRIALS:-60}
for b in fm qm tlsf; do
	"$BUILD/tests/prog_killstorm" "$b" "$n" 7
done
