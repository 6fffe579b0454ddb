# The README's embedding example runs and the child's string reaches the
# parent through shm.
set -e
out=$("$BUILD/tests/example")
echo "$out"
echo "$out" | grep -q '^hello from the child (backend '
