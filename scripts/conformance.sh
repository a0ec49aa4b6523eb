#!/bin/sh
# conformance.sh - the conformance guests (small C programs that pin one
# family of Linux behaviour each, printing only deterministic lines), run
# natively and under vsysbed in each trap mode and on the ptrace platform.
# One line per guest and mode: PASS when stdout and exit status are the
# native run's, FAIL with the first lines of the difference otherwise;
# then "N passed, N failed". Exits 1 if anything failed.
#
# Environment: VSYSBED (default build/vsysbed), GUESTDIR (default
# build/guests), GUESTS and MODES (space-separated subsets; seccomp and sud
# run with vsysbed's default --rewrite=lazy; MODES may also name
# seccomp-off and sud-off: that trap mode with --rewrite=off, every raw
# syscall a trap; seccomp-lazy and sud-lazy say lazy explicitly),
# TIMEOUT (seconds per run, default 120).
set -u
VSYSBED=${VSYSBED:-build/vsysbed}
GUESTDIR=${GUESTDIR:-build/guests}
GUESTS=${GUESTS:-"fasttimer forkthread hostfds killfault manysig procself pwait semantics sigexit sigfd sigroute sigwait stopcont"}
MODES=${MODES:-"seccomp sud ptrace"}
TIMEOUT=${TIMEOUT:-120}

for f in "$VSYSBED"; do
	if [ ! -x "$f" ]; then
		echo "conformance.sh: $f is missing; run 'make build guests' first" >&2
		exit 2
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0
failed=0
for g in $GUESTS; do
	prog="$GUESTDIR/$g"
	if [ ! -x "$prog" ]; then
		echo "conformance.sh: $prog is missing; run 'make guests' first" >&2
		exit 2
	fi
	timeout "$TIMEOUT" "$prog" >"$tmp/native.out" 2>"$tmp/native.err" </dev/null
	echo "exit status $?" >>"$tmp/native.out"
	for m in $MODES; do
		case $m in
		ptrace) flags="--platform=ptrace" ;;
		*-lazy) flags="--trap ${m%-lazy} --rewrite=lazy" ;;
		*-off) flags="--trap ${m%-off} --rewrite=off" ;;
		*) flags="--trap $m" ;;
		esac
		# shellcheck disable=SC2086 # $flags is two words on purpose
		timeout "$TIMEOUT" "$VSYSBED" run $flags --report "$tmp/report.json" -- "$prog" \
			>"$tmp/vsysbed.out" 2>"$tmp/vsysbed.err" </dev/null
		echo "exit status $?" >>"$tmp/vsysbed.out"
		if cmp -s "$tmp/native.out" "$tmp/vsysbed.out"; then
			passed=$((passed + 1))
			printf 'PASS  %-12s %s\n' "$g" "$m"
		else
			failed=$((failed + 1))
			printf 'FAIL  %-12s %s\n' "$g" "$m"
			diff "$tmp/native.out" "$tmp/vsysbed.out" | head -8 | sed 's/^/      /'
			tail -3 "$tmp/vsysbed.err" | sed 's/^/      stderr: /'
		fi
	done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
