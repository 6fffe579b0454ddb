#!/bin/sh
# deps.sh - install what building, testing and benchmarking srmem needs,
# from Debian's packages.  As root (or with sudo) it installs what is
# missing; otherwise it names the packages and stops.
#   build:  gcc make pkg-config
#   server: libjansson-dev (JSON-RPC), libmicrohttpd-dev (RPC over HTTP)
#   tests:  check (libcheck), valgrind, jq, sip-tester (sipp), curl,
#           python3-prometheus-client (it_metrics parses /metrics with it)
#   fuzz:   clang, libclang-rt-14-dev (libFuzzer and the sanitizers'
#           runtimes: make fuzz)
#   bench:  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev gnuplot-nox
set -u
pkgs="gcc make pkg-config libjansson-dev libmicrohttpd-dev check valgrind jq \
sip-tester curl python3-prometheus-client clang libclang-rt-14-dev libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev gnuplot-nox"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: please install:$missing (Debian names)"; exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
		echo "deps: not root; please run: apt-get install$missing"; exit 1
	fi
fi
echo "deps: installing$missing"
$sudo apt-get update -qq &&
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
	{ echo "deps: apt-get failed; please install:$missing"; exit 1; }
