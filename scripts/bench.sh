#!/usr/bin/env bash
# bench.sh - per-call cost of each guest entry path, measured in one run.
#
# Runs build/guests/bench natively, under vsysbed with the default routes
# (getpid takes the fast path), and under vsysbed with --route getpid=kernel
# (getpid enters the Go kernel), both with --rewrite=off (every raw syscall
# a trap), and with the default --rewrite=lazy, then prints one table whose ratios are
# against the native numbers of this same run, so machines and runs are
# not mixed. Thread create+join and the signal round trip run in runs of
# their own (`bench N threads`, `bench N signals`), natively and under
# vsysbed; when one of those fails its row says so and the others stay.
# Process start-up (fork, vfork+exec, posix_spawn, fork against touched
# memory) comes from build/guests/forkbench, run the same two ways. The
# ptrace platform (--platform=ptrace: every syscall a ptrace stop, then
# run by the real kernel) runs the same bench with PTRACE_ITERATIONS.
# The --rewrite=off and --rewrite=lazy runs are repeated with --timing=off: the
# timing-overhead line is what timing each call costs (--timing=on less off; the
# issue's budget is 15 ns a call), between two runs, so the load of the
# machine moves it; then the same measured in isolation (vsysbed calibrate
# --timing-overhead: an entry counted and timed less counted, the fastest
# of 7 rounds).
# Whole-run start-up: `/bin/true` and `python3 -c pass` natively and as
# `vsysbed run -- PROGRAM` (text report to stderr, discarded), in turn,
# STARTUP_RUNS times after one warm-up of each (the probe and symbol
# caches), median wall time.
#
# Environment: ITERATIONS (default 200000), VSYSBED (default build/vsysbed),
# BENCH (default build/guests/bench), FORKBENCH (default
# build/guests/forkbench), FORK_ITERATIONS (default 40), PTRACE_ITERATIONS
# (default 20000), STARTUP_RUNS (default 21), PYTHON (default
# /usr/bin/python3), TRAP (seccomp|sud, default: vsysbed's).
set -euo pipefail

cd "$(dirname "$0")/.."
ITERATIONS=${ITERATIONS:-200000}
VSYSBED=${VSYSBED:-build/vsysbed}
BENCH=${BENCH:-build/guests/bench}
FORKBENCH=${FORKBENCH:-build/guests/forkbench}
FORK_ITERATIONS=${FORK_ITERATIONS:-40}
PTRACE_ITERATIONS=${PTRACE_ITERATIONS:-20000}
STARTUP_RUNS=${STARTUP_RUNS:-21}
PYTHON=${PYTHON:-/usr/bin/python3} # not a pyenv shim on PATH: a script that execs
TRAP=${TRAP:-}

for f in "$VSYSBED" "$BENCH" "$FORKBENCH"; do
	if [[ ! -x $f ]]; then
		echo "bench.sh: $f is missing; run 'make build guests' first" >&2
		exit 1
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

trapflag=()
if [[ -n $TRAP ]]; then
	trapflag=(--trap "$TRAP")
fi

# run NAME CMD... : run one bench, keep its "name ns" lines in $tmp/NAME.
run() {
	local name=$1
	shift
	if ! "$@" >"$tmp/$name" 2>"$tmp/$name.err"; then
		echo "bench.sh: '$*' failed:" >&2
		cat "$tmp/$name.err" >&2
		exit 1
	fi
}

run native "$BENCH" "$ITERATIONS"
run fast "$VSYSBED" run "${trapflag[@]}" --rewrite=off --report "$tmp/fast.json" -- "$BENCH" "$ITERATIONS"
run kernel "$VSYSBED" run "${trapflag[@]}" --rewrite=off --report "$tmp/kernel.json" --route getpid=kernel -- "$BENCH" "$ITERATIONS"
run lazy "$VSYSBED" run "${trapflag[@]}" --rewrite=lazy --report "$tmp/lazy.json" -- "$BENCH" "$ITERATIONS"
run fast-untimed "$VSYSBED" run "${trapflag[@]}" --timing=off --rewrite=off --report "$tmp/fast-untimed.json" -- "$BENCH" "$ITERATIONS"
run lazy-untimed "$VSYSBED" run "${trapflag[@]}" --timing=off --rewrite=lazy --report "$tmp/lazy-untimed.json" -- "$BENCH" "$ITERATIONS"

# try NAME CMD... : like run, but a failure only leaves $tmp/NAME empty
# and its stderr in $tmp/NAME.err, reported under the table.
failed=()
try() {
	local name=$1
	shift
	if ! "$@" >"$tmp/$name" 2>"$tmp/$name.err"; then
		: >"$tmp/$name"
		failed+=("$name")
	fi
}

try native-threads "$BENCH" "$ITERATIONS" threads
try native-signals "$BENCH" "$ITERATIONS" signals
try vsysbed-threads "$VSYSBED" run "${trapflag[@]}" --report "$tmp/threads.json" -- "$BENCH" "$ITERATIONS" threads
try vsysbed-signals "$VSYSBED" run "${trapflag[@]}" --report "$tmp/signals.json" -- "$BENCH" "$ITERATIONS" signals
try native-fork "$FORKBENCH" "$FORK_ITERATIONS"
try ptrace "$VSYSBED" run --platform=ptrace --report "$tmp/ptrace.json" -- "$BENCH" "$PTRACE_ITERATIONS"
try vsysbed-fork "$VSYSBED" run "${trapflag[@]}" --report "$tmp/fork.json" -- "$FORKBENCH" "$FORK_ITERATIONS"

# startup NAME PROGRAM... : PROGRAM natively and under vsysbed in turn,
# STARTUP_RUNS times after one warm-up run of each; "native US" and
# "vsysbed US" (median wall time, microseconds) into $tmp/NAME. A program
# that is not installed leaves $tmp/NAME empty.
startup() {
	local name=$1 i t0 t1 t2
	shift
	: >"$tmp/$name"
	command -v "$1" >/dev/null || return 0
	"$@" >/dev/null 2>&1 || true
	"$VSYSBED" run "${trapflag[@]}" -- "$@" >/dev/null 2>&1 || true
	for ((i = 0; i < STARTUP_RUNS; i++)); do
		t0=$EPOCHREALTIME
		"$@" >/dev/null 2>&1 || true
		t1=$EPOCHREALTIME
		"$VSYSBED" run "${trapflag[@]}" -- "$@" >/dev/null 2>&1 || true
		t2=$EPOCHREALTIME
		echo "$t0 $t1 $t2"
	done >"$tmp/$name.times"
	median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.0f\n", a[int((NR + 1) / 2)] }'; }
	echo "native $(awk '{ printf "%.1f\n", ($2 - $1) * 1e6 }' "$tmp/$name.times" | median)" >>"$tmp/$name"
	echo "vsysbed $(awk '{ printf "%.1f\n", ($3 - $2) * 1e6 }' "$tmp/$name.times" | median)" >>"$tmp/$name"
}
LC_NUMERIC=C startup startup-true /bin/true
LC_NUMERIC=C startup startup-python "$PYTHON" -c pass

# value RUN METRIC : the ns/call the bench printed, or "-" if it printed none.
value() {
	awk -v m="$2" '$1 == m { print $2; found = 1 } END { if (!found) print "-" }' "$tmp/$1"
}

getpid_native=$(value native getpid_raw)
clock_native=$(value native clock_gettime)

printf '%-48s %12s %10s\n' "path" "ns/call" "ratio"
row() {
	local label=$1 ns=$2 base=$3
	awk -v l="$label" -v ns="$ns" -v b="$base" 'BEGIN {
		r = "-"
		if (ns != "-" && b != "-" && b + 0 > 0) r = sprintf("%.2fx", ns / b)
		printf "%-48s %12s %10s\n", l, ns, r
	}'
}
row "getpid native (syscall)" "$getpid_native" "$getpid_native"
row "getpid bypass, fast path" "$(value fast getpid_vsyscall)" "$getpid_native"
row "getpid bypass, into Go kernel" "$(value kernel getpid_vsyscall)" "$getpid_native"
row "getpid trap, fast path" "$(value fast getpid_raw)" "$getpid_native"
row "getpid trap, into Go kernel" "$(value kernel getpid_raw)" "$getpid_native"
row "getpid wrapper native" "$(value native getpid_wrapper)" "$getpid_native"
row "getpid wrapper, trap (--rewrite=off)" "$(value fast getpid_wrapper)" "$getpid_native"
row "getpid wrapper, patched (--rewrite=lazy)" "$(value lazy getpid_wrapper)" "$getpid_native"
row "getpid raw inline, --rewrite=lazy (no pattern)" "$(value lazy getpid_raw)" "$getpid_native"
row "getpid bypass, ptrace platform" "$(value ptrace getpid_vsyscall)" "$getpid_native"
row "getpid trap, ptrace platform" "$(value ptrace getpid_raw)" "$getpid_native"
row "clock_gettime native vDSO" "$clock_native" "$clock_native"
row "clock_gettime synthetic vDSO" "$(value fast clock_gettime)" "$clock_native"
row "arch_prctl(SET_FS) native (one FS switch)" "$(value native arch_prctl_set_fs)" "$getpid_native"
threads_native=$(value native-threads thread_create_join)
signals_native=$(value native-signals signal_roundtrip)
row "thread create+join native" "$threads_native" "$threads_native"
row "thread create+join under vsysbed" "$(value vsysbed-threads thread_create_join)" "$threads_native"
row "signal round trip native" "$signals_native" "$signals_native"
row "signal round trip under vsysbed" "$(value vsysbed-signals signal_roundtrip)" "$signals_native"
# forkrow LABEL METRIC : the native and the vsysbed row of one forkbench metric.
forkrow() {
	local native
	native=$(value native-fork "$2")
	row "$1 native" "$native" "$native"
	row "$1 under vsysbed" "$(value vsysbed-fork "$2")" "$native"
}
forkrow "fork+exit+wait" fork_exit_wait
forkrow "vfork+exec(/bin/true)+wait" vfork_exec_true_wait
forkrow "posix_spawn(/bin/true)+wait" posix_spawn_true_wait
forkrow "fork+exit+wait, 1 MiB touched" fork_touched_1MiB
forkrow "fork+exit+wait, 16 MiB touched" fork_touched_16MiB
forkrow "fork+exit+wait, 256 MiB touched" fork_touched_256MiB
row "getpid bypass, fast path, --timing=off" "$(value fast-untimed getpid_vsyscall)" "$getpid_native"
row "getpid trap, fast path, --timing=off" "$(value fast-untimed getpid_raw)" "$getpid_native"
row "getpid wrapper, patched, --timing=off" "$(value lazy-untimed getpid_wrapper)" "$getpid_native"
# overhead ON OFF : ns a call timing adds (on less off), or "-".
overhead() {
	awk -v on="$1" -v off="$2" 'BEGIN { if (on == "-" || off == "-") print "-"; else printf "%.1f", on - off }'
}
echo "timing overhead per call (--timing=on less off): bypass $(overhead "$(value fast getpid_vsyscall)" "$(value fast-untimed getpid_vsyscall)") ns," \
	"trap $(overhead "$(value fast getpid_raw)" "$(value fast-untimed getpid_raw)") ns," \
	"patched $(overhead "$(value lazy getpid_wrapper)" "$(value lazy-untimed getpid_wrapper)") ns (budget 15 ns)"
"$VSYSBED" calibrate --timing-overhead --iterations 1000000 || true
printf '%-48s %12s %10s\n' "start-up (wall, median of $STARTUP_RUNS)" "us/run" "ratio"
# startrow LABEL NAME : the native and the vsysbed row of one program.
startrow() {
	local native
	native=$(value "$2" native)
	row "$1 native" "$native" "$native"
	row "vsysbed run -- $1" "$(value "$2" vsysbed)" "$native"
}
startrow "/bin/true" startup-true
startrow "python3 -c pass" startup-python
echo "($ITERATIONS iterations per path ($PTRACE_ITERATIONS on ptrace), 200 thread create+joins, 20000 signals, $FORK_ITERATIONS forks/spawns; ratios against native in this run)"
for name in "${failed[@]}"; do
	echo "bench.sh: the $name run failed:" >&2
	cat "$tmp/$name.err" >&2
done
