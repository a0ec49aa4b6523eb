#!/usr/bin/env bash
# bench-apps.sh - Debian's own programs natively and under vsysbed, in one run.
#
# The application benchmark of issue 15: each workload runs natively, then
# under `vsysbed run` in each mode, and every ratio is against the native
# figure of this same run (machines and runs are never mixed):
#
#   redis    redis-server, redis-benchmark -q -t set,get -n REDIS_N (req/s)
#   nginx    nginx serving a static file, ab -n AB_N -c AB_C (req/s)
#   find     find /usr -name '*.h' (seconds, warm cache)
#   du       du -sh /usr (seconds, warm cache)
#   shloop   bash: a loop spawning /bin/true SHLOOP_N times (seconds)
#   make     make -j2 -B of a generated Makefile: MAKE_N targets, each a
#            shell recipe writing one file, and one that joins them (seconds)
#   git      git status in a generated repository of GIT_N committed files,
#            one of them changed (seconds)
#
# shloop, make and git are issue 16's rows: scripts that start many short
# processes, each paying vsysbed's start-up, fork and exec costs.
#
# Modes: seccomp (vsysbed's default trap) and sud (--trap sud), each with
# --rewrite=off (every raw syscall a trap), and rewrite=lazy (the default:
# seccomp with trapped sites rewritten) when `vsysbed run --help` lists
# --rewrite; without it that row says "n/a (no --rewrite)". For servers the ratio is the
# throughput's (higher is better), for find and du the time's (lower is
# better). Each vsysbed run writes a report (--report); the calls columns
# are the shares of its totals (bypass / trap / vdso, and any other kind it
# has), for a server over its whole process tree. A client or a timed
# command runs REPEAT times after a warm-up and the median counts.
#
# A workload whose programs are missing prints one line saying so and is
# skipped. Servers listen on 127.0.0.1 on a free port of their own and are
# always shut down (also on Ctrl-C); the temporary directory, which also
# holds vsysbed's run directories (TMPDIR), is removed.
#
# Environment: VSYSBED (default build/vsysbed), REPEAT (default 3), REDIS_N
# (default 100000), AB_N (default 20000), AB_C (default 8), SHLOOP_N
# (default 200), MAKE_N (default 16), GIT_N (default 20), MODES (default
# "seccomp sud"; rewrite=lazy is added),
# WORKLOADS (default "redis nginx find du shloop make git"), TSV (a file to
# write the rows to, tab-separated, for docs/bench-apps.tsv).
set -euo pipefail

cd "$(dirname "$0")/.."
VSYSBED=${VSYSBED:-build/vsysbed}
REPEAT=${REPEAT:-3}
REDIS_N=${REDIS_N:-100000}
AB_N=${AB_N:-20000}
AB_C=${AB_C:-8}
MODES=${MODES:-seccomp sud}
SHLOOP_N=${SHLOOP_N:-200}
MAKE_N=${MAKE_N:-16}
GIT_N=${GIT_N:-20}
WORKLOADS=${WORKLOADS:-redis nginx find du shloop make git}
TSV=${TSV:-}

if [[ ! -x $VSYSBED ]]; then
	echo "bench-apps.sh: $VSYSBED is missing; run 'make build' first" >&2
	exit 1
fi
VSYSBED=$(realpath "$VSYSBED")

start=$(date +%s)
tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx's workers may run as another user
server_pid=

# stop_server: end the running server (native, or vsysbed and its guest):
# SIGTERM to the process we started, which vsysbed forwards to the guest,
# then SIGKILL to its whole process group if it has not ended in 10 s.
stop_server() {
	local pid=$server_pid
	[[ -n $pid ]] || return 0
	server_pid=
	kill -TERM "$pid" 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "bench-apps.sh: server $pid did not stop on SIGTERM; killing its group" >&2
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	stop_server
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Where vsysbed makes its run directories, so that none is left behind.
export TMPDIR=$tmp

# Go's flag package prints "  -rewrite ..." (and exits 2) for --help.
has_rewrite=false
help=$("$VSYSBED" run --help 2>&1 || true)
if grep -q -- '^ *-\{1,2\}rewrite\b' <<<"$help"; then
	has_rewrite=true
fi

# mode_flags MODE : vsysbed run's flags for MODE, one a line.
mode_flags() {
	case $1 in
	seccomp | sud)
		echo "--trap=$1"
		if $has_rewrite; then echo --rewrite=off; fi
		;;
	rewrite=off) echo --rewrite=off ;;
	rewrite=lazy) echo --rewrite=lazy ;;
	*)
		echo "bench-apps.sh: unknown mode $1" >&2
		exit 1
		;;
	esac
}

modes=()
for m in $MODES; do
	mode_flags "$m" >/dev/null
	modes+=("$m")
done
# rewrite=off is the seccomp mode: only lazy (the default) is added.
modes+=(rewrite=lazy)

# runnable MODE : true if MODE can run with this vsysbed.
runnable() {
	case $1 in
	rewrite=*) $has_rewrite ;;
	*) true ;;
	esac
}

# --- machine facts -------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
hwcap2=$(LD_SHOW_AUXV=1 /bin/true 2>/dev/null | awk '$1 == "AT_HWCAP2:" { print $2 }')
fsgsbase=no
if [[ -n $hwcap2 ]] && (((hwcap2) & 2)); then
	fsgsbase=yes
fi
machine="$(nproc) CPUs, ${cpu:-unknown CPU}, FSGSBASE: $fsgsbase (AT_HWCAP2=${hwcap2:-?}), Linux $(uname -r)"
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "machine: $machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average at start: $load"
echo "vsysbed: $VSYSBED ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), --rewrite: $($has_rewrite && echo yes || echo no)"
echo

# --- helpers ---------------------------------------------------------------

# median V... : the median of the numbers (the lower middle one for an even
# count), ignoring what is not a number (a client that printed none); "-"
# if none is.
median() {
	printf '%s\n' "$@" | awk '$1 ~ /^[0-9]+(\.[0-9]*)?$/' | sort -g |
		awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "-" }'
}

# shares REPORT : "kind=pct ..." of the report's totals (WriteJSON writes
# one field a line, so the totals block is read as text).
shares() {
	awk '
		/^  "totals": \{/ { in_t = 1; next }
		in_t && /^  \}/ { in_t = 0 }
		# the counts only: not the time_ns and mean_ns objects inside
		in_t && /\{$/ { nested = 1; next }
		in_t && nested { if ($0 ~ /^    \}/) nested = 0; next }
		in_t {
			gsub(/[",]/, "")
			sub(/:$/, "", $1)
			if ($1 == "total") total = $2
			else { kind[++n] = $1; count[n] = $2 }
		}
		END {
			if (total == "") { print "-"; exit }
			s = ""
			for (i = 1; i <= n; i++)
				s = s sprintf("%s%s=%.1f%%", (i > 1 ? " " : ""), kind[i], total > 0 ? 100 * count[i] / total : 0)
			print s " of " total
		}' "$1"
}

# free_port : a TCP port on 127.0.0.1 nobody listens on.
free_port() {
	local p=$((20000 + ($$ * 7 + RANDOM) % 30000))
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
		p=$((p + 1))
	done
	echo "$p"
}

# wait_port PORT : wait until something listens on PORT (10 s at most)
# while the server is alive.
wait_port() {
	local i
	for ((i = 0; i < 200; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# start_server MODE LOG CMD... : start CMD natively (MODE native) or under
# vsysbed with a report in $tmp/report.json, in a process group of its own.
start_server() {
	local mode=$1 log=$2
	shift 2
	rm -f "$tmp/report.json"
	if [[ $mode == native ]]; then
		setsid "$@" >"$log" 2>&1 </dev/null &
	else
		local flags
		mapfile -t flags < <(mode_flags "$mode")
		setsid "$VSYSBED" run "${flags[@]}" --report "$tmp/report.json" -- "$@" >"$log" 2>&1 </dev/null &
	fi
	server_pid=$!
}

# Results: one line per workload metric and mode, tab-separated:
# workload metric unit mode value ratio calls
rows=()
declare -A native_value
# result WORKLOAD METRIC UNIT MODE VALUE CALLS
result() {
	local key="$1 $2" ratio=-
	if [[ $4 == native ]]; then
		native_value[$key]=$5
		ratio=1.00
	elif [[ $5 != n/a* && $5 != - && -n ${native_value[$key]:-} ]]; then
		ratio=$(awk -v v="$5" -v n="${native_value[$key]}" 'BEGIN { if (n > 0) printf "%.2f", v / n; else print "-" }')
	fi
	rows+=("$1"$'\t'"$2"$'\t'"$3"$'\t'"$4"$'\t'"$5"$'\t'"$ratio"$'\t'"$6")
}

# skip WORKLOAD METRIC UNIT MODE WHY : a row for a mode that did not run.
skip() {
	result "$1" "$2" "$3" "$4" "$5" -
}

# need WORKLOAD PROGRAM:PACKAGE... : true if every program is on PATH, else
# one line saying what is missing.
need() {
	local w=$1 missing=() pkgs=()
	shift
	local pp
	for pp in "$@"; do
		if ! command -v "${pp%%:*}" >/dev/null 2>&1; then
			missing+=("${pp%%:*}")
			pkgs+=("${pp#*:}")
		fi
	done
	if ((${#missing[@]})); then
		echo "bench-apps.sh: $w skipped: ${missing[*]} not found (Debian: ${pkgs[*]}; 'make deps' installs them)" >&2
		return 1
	fi
}

# --- redis -------------------------------------------------------------------
bench_redis() {
	need redis redis-server:redis-server redis-benchmark:redis-tools || return 0
	local mode
	for mode in native "${modes[@]}"; do
		if ! runnable "$mode"; then
			skip redis SET req/s "$mode" "n/a (no --rewrite)"
			skip redis GET req/s "$mode" "n/a (no --rewrite)"
			continue
		fi
		local port dir=$tmp/redis-$mode
		port=$(free_port)
		mkdir -p "$dir"
		start_server "$mode" "$dir/server.log" redis-server --port "$port" --bind 127.0.0.1 \
			--save '' --appendonly no --dir "$dir" --daemonize no
		if ! wait_port "$port"; then
			echo "bench-apps.sh: redis-server ($mode) did not start:" >&2
			tail -5 "$dir/server.log" >&2
			stop_server
			skip redis SET req/s "$mode" -
			skip redis GET req/s "$mode" -
			continue
		fi
		redis-benchmark -p "$port" -q -t set,get -n $((REDIS_N / 10)) >/dev/null 2>&1 || true
		local sets=() gets=() i out
		for ((i = 0; i < REPEAT; i++)); do
			out=$(redis-benchmark -p "$port" -q -t set,get -n "$REDIS_N" 2>&1 | tr '\r' '\n' || true)
			sets+=("$(awk '/^SET: .* requests per second/ { print $2 }' <<<"$out")")
			gets+=("$(awk '/^GET: .* requests per second/ { print $2 }' <<<"$out")")
		done
		stop_server
		local calls=-
		[[ $mode == native ]] || calls=$(shares "$tmp/report.json" 2>/dev/null || echo -)
		result redis SET req/s "$mode" "$(median "${sets[@]}")" "$calls"
		result redis GET req/s "$mode" "$(median "${gets[@]}")" "$calls"
	done
}

# --- nginx -------------------------------------------------------------------
bench_nginx() {
	need nginx nginx:nginx-light ab:apache2-utils || return 0
	local mode
	for mode in native "${modes[@]}"; do
		if ! runnable "$mode"; then
			skip nginx static req/s "$mode" "n/a (no --rewrite)"
			continue
		fi
		local port dir=$tmp/nginx-$mode user=
		port=$(free_port)
		mkdir -p "$dir/html" "$dir/tmp"
		chmod 755 "$dir" "$dir/html"
		# a 4 KiB page
		head -c 3072 /dev/zero | tr '\0' x | fold -w 63 >"$dir/html/index.html"
		[[ $(id -u) != 0 ]] || user="user root;"
		cat >"$dir/nginx.conf" <<-EOF
			worker_processes 1;
			$user
			pid $dir/nginx.pid;
			error_log $dir/error.log;
			events { worker_connections 256; }
			http {
				access_log off;
				client_body_temp_path $dir/tmp;
				proxy_temp_path $dir/tmp;
				fastcgi_temp_path $dir/tmp;
				uwsgi_temp_path $dir/tmp;
				scgi_temp_path $dir/tmp;
				server { listen 127.0.0.1:$port; root $dir/html; }
			}
		EOF
		start_server "$mode" "$dir/server.log" nginx -p "$dir" -c "$dir/nginx.conf" \
			-e "$dir/error.log" -g 'daemon off;'
		if ! wait_port "$port"; then
			echo "bench-apps.sh: nginx ($mode) did not start:" >&2
			tail -n 5 "$dir/server.log" "$dir/error.log" >&2 || true
			stop_server
			skip nginx static req/s "$mode" -
			continue
		fi
		local url=http://127.0.0.1:$port/index.html
		ab -q -n $((AB_N / 10)) -c "$AB_C" "$url" >/dev/null 2>&1 || true
		local rps=() i out
		for ((i = 0; i < REPEAT; i++)); do
			out=$(ab -q -n "$AB_N" -c "$AB_C" "$url" 2>&1 || true)
			if ! grep -q '^Failed requests: *0$' <<<"$out"; then
				echo "bench-apps.sh: ab against nginx ($mode) had failures:" >&2
				grep -E '^(Complete|Failed) requests' <<<"$out" >&2 || tail -3 <<<"$out" >&2
			fi
			rps+=("$(awk '/^Requests per second:/ { print $4 }' <<<"$out")")
		done
		stop_server
		local calls=-
		[[ $mode == native ]] || calls=$(shares "$tmp/report.json" 2>/dev/null || echo -)
		result nginx static req/s "$mode" "$(median "${rps[@]}")" "$calls"
	done
}

# --- find, du ------------------------------------------------------------------

# now : seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# bench_command WORKLOAD PACKAGE CMD... : the wall time of CMD (output
# discarded), warm cache.
bench_command() {
	local w=$1 pkg=$2
	shift 2
	need "$w" "$1:$pkg" || return 0
	"$@" >/dev/null 2>&1 || true # warm the cache
	local mode
	for mode in native "${modes[@]}"; do
		if ! runnable "$mode"; then
			skip "$w" time s "$mode" "n/a (no --rewrite)"
			continue
		fi
		local times=() i t0 t1 flags=()
		[[ $mode == native ]] || mapfile -t flags < <(mode_flags "$mode")
		for ((i = 0; i < REPEAT; i++)); do
			rm -f "$tmp/report.json"
			t0=$(now)
			if [[ $mode == native ]]; then
				"$@" >/dev/null 2>"$tmp/$w.err" || true
			else
				"$VSYSBED" run "${flags[@]}" --report "$tmp/report.json" -- "$@" >/dev/null 2>"$tmp/$w.err" || true
			fi
			t1=$(now)
			times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
		done
		local calls=-
		[[ $mode == native ]] || calls=$(shares "$tmp/report.json" 2>/dev/null || echo -)
		result "$w" time s "$mode" "$(median "${times[@]}")" "$calls"
	done
}

# --- shloop, make, git: many short processes ------------------------------------

# make_project DIR : a Makefile of MAKE_N independent targets, each a shell
# recipe (a redirection: make runs it through /bin/sh), and "all" joining
# them.
make_project() {
	local dir=$1 i
	mkdir -p "$dir"
	{
		printf 'N := $(shell seq %d)\n' "$MAKE_N"
		printf 'all: $(N:%%=out/%%.txt)\n\tcat $^ > out/all.txt\n'
		printf 'out/%%.txt:\n\t@mkdir -p out && echo $* > $@\n'
	} >"$dir/Makefile"
}

# git_repo DIR : a repository of GIT_N committed files, one changed since.
git_repo() {
	local dir=$1 i
	mkdir -p "$dir"
	git -C "$dir" init -q
	for ((i = 0; i < GIT_N; i++)); do
		echo "file $i" >"$dir/f$i.txt"
	done
	git -C "$dir" add .
	git -C "$dir" -c user.name=bench -c user.email=bench@localhost commit -q -m init
	echo changed >>"$dir/f0.txt"
}

for w in $WORKLOADS; do
	case $w in
	redis) bench_redis ;;
	nginx) bench_nginx ;;
	find) bench_command find findutils find /usr -name '*.h' ;;
	du) bench_command du coreutils du -sh /usr ;;
	shloop) bench_command shloop bash bash -c 'for ((i = 0; i < '"$SHLOOP_N"'; i++)); do /bin/true; done' ;;
	make)
		if need make make:make; then
			make_project "$tmp/make"
			bench_command make make make -j2 -B -s -C "$tmp/make"
		fi
		;;
	git)
		if need git git:git; then
			git_repo "$tmp/git"
			bench_command git git git -C "$tmp/git" status
		fi
		;;
	*)
		echo "bench-apps.sh: unknown workload $w" >&2
		exit 1
		;;
	esac
done

# --- the table -------------------------------------------------------------------
printf '%-14s %-13s %20s %8s  %s\n' workload mode value ratio "calls under vsysbed (share of the report's totals)"
for r in "${rows[@]}"; do
	IFS=$'\t' read -r w metric unit mode value ratio calls <<<"$r"
	label="$w $metric"
	[[ $metric != time && $metric != static ]] || label=$w
	v=$value
	[[ $value == n/a* || $value == - ]] || v="$value $unit"
	rt=$ratio
	[[ $ratio == - ]] || rt="${ratio}x"
	[[ $calls != - ]] || calls=
	printf '%-14s %-13s %20s %8s  %s\n' "$label" "$mode" "$v" "$rt" "$calls"
done
elapsed=$(($(date +%s) - start))
echo "(ratios against native in this run: req/s for redis and nginx (higher is better), seconds for find, du, shloop, make and git (lower is better); median of $REPEAT after a warm-up; redis -n $REDIS_N, ab -n $AB_N -c $AB_C; $elapsed s in all, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"

if [[ -n $TSV ]]; then
	{
		echo "# make bench-apps: $machine"
		echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), vsysbed $(git rev-parse --short HEAD 2>/dev/null || echo '?'), median of $REPEAT, redis -n $REDIS_N, ab -n $AB_N -c $AB_C"
		printf 'workload\tmetric\tunit\tmode\tvalue\tratio\tcalls\n'
		printf '%s\n' "${rows[@]}"
	} >"$TSV"
	echo "rows written to $TSV"
fi
