#!/usr/bin/env bash
# bench/run.sh: load benchmark of the gateway core.
#
# Builds gatehouse and the two reference servers, then measures with wrk, in
# one run and in interleaved rounds:
#   upstream        the backend alone (the ceiling),
#   bare-proxy      a bare httputil.ReverseProxy in front of it (the floor of
#                   any Go proxy),
#   gatehouse:NAME  gatehouse running scenario NAME (see scenario_* below).
# Prints requests/s, p50 and p99 per target and the ratios to bare-proxy and
# upstream, and writes them to bench/results/ (git-ignored).
#
# Usage: bash bench/run.sh            (from anywhere)
# Settings (environment):
#   BENCH_DURATION     wrk duration of one measurement        (default 10s)
#   BENCH_WARMUP       wrk warm-up per target, 0 to skip      (default 2s)
#   BENCH_THREADS      wrk threads                            (default 1)
#   BENCH_CONNECTIONS  wrk connections                        (default 64)
#   BENCH_ROUNDS       interleaved rounds per target          (default 3)
#   BENCH_PICK         best (highest req/s) or median round   (default best)
#   BENCH_SCENARIOS    gatehouse scenarios, space-separated   (default: proxy)
#   BENCH_PORT_BASE    first port used on 127.0.0.1           (default 28100)
#   BENCH_TARGET       minimum gatehouse/bare req/s ratio     (default 0.90)
#   BENCH_PAIRED       1: also measure each scenario paired with bare-proxy
#                      (both loaded at once, half the connections each)  (default 1)
#   BENCH_GOGC         GOGC for every server process (default: Go's default, 100)
#   BENCH_STRICT       1: exit 1 when a scenario is below BENCH_TARGET
#   BENCH_RESULTS_DIR  where results go                       (default bench/results)
#
# Adding a scenario: write a function scenario_NAME that takes a config dir,
# writes gateway.config.yml (and whatever else it needs) into it and sets
# SC_PATH (the request path), optionally SC_HEADERS (wrk -H values),
# SC_EXPECT (the status a request must get, default 200) and SC_FLAGS (extra
# `gatehouse serve` flags). An optional scenario_NAME_ready <config-dir>
# <port> runs once gatehouse is listening (e.g. to create consumers). Then
# add NAME to BENCH_SCENARIOS.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
THREADS=${BENCH_THREADS:-1}
CONNS=${BENCH_CONNECTIONS:-64}
ROUNDS=${BENCH_ROUNDS:-3}
PICK=${BENCH_PICK:-best}
SCENARIOS=${BENCH_SCENARIOS:-proxy}
PORT_BASE=${BENCH_PORT_BASE:-28100}
TARGET=${BENCH_TARGET:-0.90}
STRICT=${BENCH_STRICT:-0}
PAIRED=${BENCH_PAIRED:-1}
RESULTS_DIR=${BENCH_RESULTS_DIR:-$ROOT/bench/results}

UPSTREAM_PORT=$((PORT_BASE + 1))
BARE_PORT=$((PORT_BASE + 2))
export BENCH_UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT" # used by the scenario configs

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
PIDS=()     # every server this script started
WRK_PIDS=() # the wrk runs in progress

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# stop ends a process this script started: SIGTERM, a bounded wait, then
# SIGKILL.
stop() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			return 0
		fi
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in ${WRK_PIDS[@]+"${WRK_PIDS[@]}"} ${PIDS[@]+"${PIDS[@]}"}; do
		stop "$pid"
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- scenarios

# config_common prints the parts of gateway.config.yml every scenario shares:
# the listener (port from EG_HTTP_PORT, set when gatehouse starts), one
# apiEndpoint and the upstream. Scenarios add policies and pipelines.
config_common() {
	cat <<'YAML'
http:
  host: 127.0.0.1
  port: ${EG_HTTP_PORT}
apiEndpoints:
  bench:
    host: '*'
    paths: ['/bench', '/bench/*']
serviceEndpoints:
  upstream:
    url: ${BENCH_UPSTREAM}
YAML
}

# scenario_proxy: the plain proxy pipeline, gatehouse's floor.
scenario_proxy() {
	local dir=$1
	SC_PATH=/bench/items
	{
		config_common
		cat <<'YAML'
policies:
  - proxy
pipelines:
  bench:
    apiEndpoints: [bench]
    policies:
      - proxy:
          - action:
              serviceEndpoint: upstream
YAML
	} >"$dir/gateway.config.yml"
}

# ---------------------------------------------------------------- helpers

# to_seconds turns a wrk duration (30, 30s, 2m, 1h) into seconds.
to_seconds() {
	local d=$1 n
	n=${d%[smh]}
	[[ $n =~ ^[0-9]+$ ]] || die "bad duration $d"
	case $d in
	*m) echo $((n * 60)) ;;
	*h) echo $((n * 3600)) ;;
	*) echo "$n" ;;
	esac
}

# http_status prints the status of GET http://127.0.0.1:PORT/PATH with the
# given headers, or 000 when nothing answers.
http_status() {
	local port=$1 path=$2 headers=$3 args=() h
	while IFS= read -r h; do
		if [[ -n $h ]]; then args+=(-H "$h"); fi
	done <<<"$headers"
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${args[@]+"${args[@]}"} \
		"http://127.0.0.1:$port$path" 2>/dev/null || true
}

# wait_status waits (bounded: 10s) until a GET gets the expected status.
wait_status() {
	local name=$1 pid=$2 port=$3 path=$4 headers=$5 expect=$6 logfile=$7 i got=000
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$logfile" >&2 || true
			die "$name exited during startup"
		fi
		got=$(http_status "$port" "$path" "$headers")
		[[ $got == "$expect" ]] && return 0
		sleep 0.1
	done
	tail -n 20 "$logfile" >&2 || true
	die "$name: GET $path answered $got, want $expect (after 10s)"
}

# port_free fails when something already listens on 127.0.0.1:PORT (a
# leftover process would otherwise be measured instead of ours).
port_free() {
	[[ $(http_status "$1" / "") == 000 ]] || die "port $1 is in use: set BENCH_PORT_BASE to a free range"
}

# start runs a command in the background, logging to $TMP/logs/NAME.log, and
# records its pid for cleanup. The pid is left in STARTED.
start() {
	local name=$1
	shift
	"$@" >"$TMP/logs/$name.log" 2>&1 &
	STARTED=$!
	PIDS+=("$STARTED")
}

# to_us converts a wrk latency (812.00us, 1.23ms, 1.01s, 1.2m) to microseconds.
to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "ms") n *= 1000; else if (u == "s") n *= 1000000; else if (u == "m") n *= 60000000
		printf "%.0f", n }'
}

fmt_ms() { awk -v us="$1" 'BEGIN { printf "%.2fms", us / 1000 }'; }

# cpu_ticks prints the CPU time (user + system, in clock ticks) a process
# has used so far.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# start_wrk runs wrk in the background against TARGET with CONNS
# connections for DUR, writing its output to FILE. wrk runs in the
# background so that a signal interrupts the wait at once; wait_wrk waits
# for every wrk started.
start_wrk() {
	local file=$1 target=$2 conns=$3 dur=$4 args=() h secs
	while IFS= read -r h; do
		if [[ -n $h ]]; then args+=(-H "$h"); fi
	done <<<"${HEADERS[$target]}"
	secs=$(to_seconds "$dur")
	timeout $((secs + 60)) wrk -t"$THREADS" -c"$conns" -d"$dur" --latency ${args[@]+"${args[@]}"} \
		"http://127.0.0.1:${PORT[$target]}${PATH_OF[$target]}" >"$file" 2>&1 &
	WRK_PIDS+=($!)
}

wait_wrk() {
	local pid
	for pid in ${WRK_PIDS[@]+"${WRK_PIDS[@]}"}; do
		wait "$pid" || die "wrk failed: $(cat "$TMP"/wrk*.out)"
	done
	WRK_PIDS=()
}

# parse_wrk reads wrk's output in FILE into W_RPS, W_REQS, W_P50 and W_P99
# (microseconds) and W_ERR (non-2xx responses plus socket errors).
parse_wrk() {
	local out non2xx sock p50 p99
	out=$(<"$1")
	W_RPS=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	W_REQS=$(awk '/ requests in / { print $1 }' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	[[ -n $W_RPS && -n $W_REQS && -n $p50 && -n $p99 ]] || die "could not parse wrk output: $out"
	W_P50=$(to_us "$p50") W_P99=$(to_us "$p99")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
	sock=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' <<<"$out")
	W_ERR=$((${non2xx:-0} + ${sock:-0}))
}

# cpu_per_req prints the CPU microseconds per request from a tick delta.
cpu_per_req() {
	awk -v d="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.2f", (n > 0 ? d * 1000000 / hz / n : 0) }'
}

# measure runs wrk against one target and appends "rps p50us p99us errors
# cpu_us_per_req" to $TMP/res/TARGET.tsv; the raw output goes to
# $TMP/raw.txt. cpu_us_per_req is the CPU time the target's own process
# used per request: it moves much less than req/s when other work competes
# for the CPUs.
measure() {
	local target=$1 dur=$2 record=$3 pid=${PID_OF[$1]} t0 t1 cpu
	t0=$(cpu_ticks "$pid")
	start_wrk "$TMP/wrk.out" "$target" "$CONNS" "$dur"
	wait_wrk
	t1=$(cpu_ticks "$pid")
	[[ $record == 1 ]] || return 0
	printf '=== %s (round %s)\n%s\n\n' "$target" "$ROUND" "$(<"$TMP/wrk.out")" >>"$TMP/raw.txt"
	parse_wrk "$TMP/wrk.out"
	cpu=$(cpu_per_req $((t1 - t0)) "$W_REQS")
	printf '%s\t%s\t%s\t%s\t%s\n' "$W_RPS" "$W_P50" "$W_P99" "$W_ERR" "$cpu" >>"$TMP/res/$target.tsv"
	log "  round $ROUND  $(printf '%-18s' "$target") $(printf '%10.0f' "$W_RPS") req/s  p50 $(fmt_ms "$W_P50")  p99 $(fmt_ms "$W_P99")  cpu/req ${cpu}us  errors $W_ERR"
}

# measure_paired loads bare-proxy and TARGET at the same time, half the
# connections each, so that both see the same machine (the same noise
# from other work), and appends "rps_bare rps_target cpu_bare cpu_target
# errors" to $TMP/res/paired-TARGET.tsv.
measure_paired() {
	local target=$1 half=$(((CONNS + 1) / 2)) bp=${PID_OF[bare-proxy]} tp=${PID_OF[$1]}
	local b0 b1 g0 g1 rb rt cb ct errs
	b0=$(cpu_ticks "$bp") g0=$(cpu_ticks "$tp")
	start_wrk "$TMP/wrk-bare.out" bare-proxy "$half" "$DURATION"
	start_wrk "$TMP/wrk-target.out" "$target" "$half" "$DURATION"
	wait_wrk
	b1=$(cpu_ticks "$bp") g1=$(cpu_ticks "$tp")
	printf '=== paired bare-proxy (round %s)\n%s\n\n=== paired %s (round %s)\n%s\n\n' "$ROUND" "$(<"$TMP/wrk-bare.out")" \
		"$target" "$ROUND" "$(<"$TMP/wrk-target.out")" >>"$TMP/raw.txt"
	parse_wrk "$TMP/wrk-bare.out"
	rb=$W_RPS cb=$(cpu_per_req $((b1 - b0)) "$W_REQS") errs=$W_ERR
	parse_wrk "$TMP/wrk-target.out"
	rt=$W_RPS ct=$(cpu_per_req $((g1 - g0)) "$W_REQS") errs=$((errs + W_ERR))
	printf '%s\t%s\t%s\t%s\t%s\n' "$rb" "$rt" "$cb" "$ct" "$errs" >>"$TMP/res/paired-$target.tsv"
	log "  round $ROUND  paired: bare-proxy $(printf '%.0f' "$rb") req/s ${cb}us/req, $target $(printf '%.0f' "$rt") req/s ${ct}us/req  errors $errs"
}

# pick prints the chosen round of a target: the best (highest req/s) or the
# median one. cpu/req is always the lowest of the rounds (the least
# disturbed).
pick() {
	local f="$TMP/res/$1.tsv" n
	n=$(wc -l <"$f")
	local cpu
	cpu=$(cut -f5 "$f" | sort -g | head -n 1)
	case $PICK in
	best) sort -t$'\t' -k1,1gr "$f" | head -n 1 ;;
	median) sort -t$'\t' -k1,1g "$f" | sed -n "$(((n + 1) / 2))p" ;;
	esac | cut -f1-4 | tr -d '\n'
	printf '\t%s\n' "$cpu"
}

# ---------------------------------------------------------------- main

[[ $ROUNDS =~ ^[1-9][0-9]*$ && $ROUNDS -le 20 ]] || die "BENCH_ROUNDS must be 1..20"
[[ $PICK == best || $PICK == median ]] || die "BENCH_PICK must be best or median, not $PICK"
to_seconds "$DURATION" >/dev/null
mkdir -p "$TMP/bin" "$TMP/logs" "$TMP/res" "$RESULTS_DIR"
CLK_TCK=$(getconf CLK_TCK)
command -v curl >/dev/null || die "curl is required"
if ! command -v wrk >/dev/null; then
	log "wrk not found: installing it with apt-get"
	SUDO=
	[[ $(id -u) == 0 ]] || SUDO=sudo
	$SUDO apt-get install -y wrk >/dev/null || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
	command -v wrk >/dev/null || die "could not install wrk"
fi

log "building into $TMP/bin"
(
	cd "$ROOT"
	go build -o "$TMP/bin/gatehouse" ./cmd/gatehouse
	go build -o "$TMP/bin/upstream" ./bench/upstream
	go build -o "$TMP/bin/bareproxy" ./bench/bareproxy
)

if [[ -n ${BENCH_GOGC:-} ]]; then
	export GOGC=$BENCH_GOGC # the same for the three kinds of server
fi

declare -A PORT PATH_OF HEADERS PID_OF
TARGETS=(upstream bare-proxy)
PORT[upstream]=$UPSTREAM_PORT PATH_OF[upstream]=/bench/items HEADERS[upstream]=
PORT[bare-proxy]=$BARE_PORT PATH_OF[bare-proxy]=/bench/items HEADERS[bare-proxy]=

port_free "$UPSTREAM_PORT"
start upstream "$TMP/bin/upstream" -addr "127.0.0.1:$UPSTREAM_PORT"
PID_OF[upstream]=$STARTED
wait_status upstream "$STARTED" "$UPSTREAM_PORT" /bench/items "" 200 "$TMP/logs/upstream.log"
port_free "$BARE_PORT"
start bare-proxy "$TMP/bin/bareproxy" -addr "127.0.0.1:$BARE_PORT" -upstream "$BENCH_UPSTREAM"
PID_OF[bare-proxy]=$STARTED
wait_status bare-proxy "$STARTED" "$BARE_PORT" /bench/items "" 200 "$TMP/logs/bare-proxy.log"

i=0
for sc in $SCENARIOS; do
	declare -F "scenario_$sc" >/dev/null || die "unknown scenario $sc (no function scenario_$sc)"
	i=$((i + 1))
	target="gatehouse:$sc"
	port=$((PORT_BASE + 10 + i))
	dir="$TMP/config-$sc"
	mkdir -p "$dir"
	SC_PATH=/bench/items SC_HEADERS=() SC_EXPECT=200 SC_FLAGS=()
	"scenario_$sc" "$dir"
	hdrs=$(printf '%s\n' ${SC_HEADERS[@]+"${SC_HEADERS[@]}"})
	port_free "$port"
	start "$target" env EG_HTTP_PORT="$port" EG_DISABLE_CONFIG_WATCH=true "$TMP/bin/gatehouse" serve --config-dir "$dir" \
		--access-log off --log-format json --log-level warn ${SC_FLAGS[@]+"${SC_FLAGS[@]}"}
	if declare -F "scenario_${sc}_ready" >/dev/null; then
		wait_status "$target" "$STARTED" "$port" /__bench_listening__ "" 404 "$TMP/logs/$target.log"
		"scenario_${sc}_ready" "$dir" "$port"
	fi
	wait_status "$target" "$STARTED" "$port" "$SC_PATH" "$hdrs" "$SC_EXPECT" "$TMP/logs/$target.log"
	TARGETS+=("$target")
	PORT[$target]=$port PATH_OF[$target]=$SC_PATH HEADERS[$target]=$hdrs PID_OF[$target]=$STARTED
done

log "wrk -t$THREADS -c$CONNS -d$DURATION --latency; $ROUNDS round(s), warm-up $WARMUP; $(nproc) CPUs"
if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
	ROUND=warmup
	for t in "${TARGETS[@]}"; do
		measure "$t" "$WARMUP" 0
	done
fi
for ((r = 1; r <= ROUNDS; r++)); do
	ROUND=$r
	order=("${TARGETS[@]}")
	if ((r % 2 == 0)); then # alternate the order, so no target always runs first
		order=()
		for ((j = ${#TARGETS[@]} - 1; j >= 0; j--)); do order+=("${TARGETS[j]}"); done
	fi
	for t in "${order[@]}"; do
		measure "$t" "$DURATION" 1
	done
done
if [[ $PAIRED == 1 ]]; then
	log "paired: bare-proxy and each scenario loaded at once, $(((CONNS + 1) / 2)) connections each"
	for ((r = 1; r <= ROUNDS; r++)); do
		ROUND=$r
		for t in "${TARGETS[@]}"; do
			if [[ $t == gatehouse:* ]]; then measure_paired "$t"; fi
		done
	done
fi

# ---------------------------------------------------------------- report

declare -A RPS P50 P99 ERR CPU
for t in "${TARGETS[@]}"; do
	IFS=$'\t' read -r "RPS[$t]" "P50[$t]" "P99[$t]" "ERR[$t]" "CPU[$t]" < <(pick "$t")
done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1 || true)
# verdict compares a gatehouse/bare-proxy req/s ratio with BENCH_TARGET.
verdict() {
	if awk -v x="$3" -v m="$TARGET" 'BEGIN { exit !(x >= m) }'; then
		echo "$1: $2 req/s ratio $3 >= target $TARGET: ok"
	else
		echo "$1: $2 req/s ratio $3 < target $TARGET: BELOW TARGET"
	fi
}

report() {
	local t base ratio cratio errs
	echo "Gatehouse benchmark $stamp (commit $commit${dirty:+, uncommitted changes})"
	echo "$(go version | cut -d' ' -f3-), $(nproc) CPUs, wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS round(s), $PICK round shown${BENCH_GOGC:+, GOGC=$BENCH_GOGC}"
	echo
	printf '%-20s %12s %10s %10s %12s %8s\n' target req/s p50 p99 cpu/req errors
	for t in "${TARGETS[@]}"; do
		printf '%-20s %12.0f %10s %10s %10.1fus %8s\n' "$t" "${RPS[$t]}" "$(fmt_ms "${P50[$t]}")" "$(fmt_ms "${P99[$t]}")" "${CPU[$t]}" "${ERR[$t]}"
	done
	echo
	for t in "${TARGETS[@]}"; do
		[[ $t == gatehouse:* ]] || continue
		for base in bare-proxy upstream; do
			awk -v t="$t" -v b="$base" -v r="${RPS[$t]}" -v rb="${RPS[$base]}" \
				-v p="${P50[$t]}" -v pb="${P50[$base]}" -v q="${P99[$t]}" -v qb="${P99[$base]}" \
				-v c="${CPU[$t]}" -v cb="${CPU[$base]}" 'BEGIN {
				printf "%-32s req/s %6.1f%%   p50 x%.2f   p99 x%.2f   cpu/req x%.2f\n", t " / " b, 100 * r / rb, p / pb, q / qb, c / cb }'
		done
		ratio=$(awk -v r="${RPS[$t]}" -v rb="${RPS[bare-proxy]}" 'BEGIN { printf "%.3f", r / rb }')
		verdict "$t" sequential "$ratio"
		if [[ -f $TMP/res/paired-$t.tsv ]]; then
			# the median round of the paired runs, by req/s ratio
			read -r ratio cratio errs < <(awk -F'\t' '{ printf "%.4f %.4f %d\n", $2 / $1, $4 / $3, $5 }' "$TMP/res/paired-$t.tsv" |
				sort -g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
			printf '%-32s req/s %6.1f%%   cpu/req x%.2f   (paired: loaded at once, median of %d rounds%s)\n' \
				"$t / bare-proxy" "$(awk -v x="$ratio" 'BEGIN { print 100 * x }')" "$cratio" "$ROUNDS" \
				"$([[ $errs == 0 ]] || echo ", $errs ERRORS")"
			verdict "$t" paired "$(printf '%.3f' "$ratio")"
		fi
		echo
	done
	for t in "${TARGETS[@]}"; do
		if [[ ${ERR[$t]} != 0 ]]; then
			echo "WARNING: $t had ${ERR[$t]} errors or non-2xx responses: its figures are not comparable"
		fi
	done
}
report >"$TMP/report.txt"
echo
cat "$TMP/report.txt"
cp "$TMP/report.txt" "$RESULTS_DIR/$stamp.txt"
cp "$TMP/report.txt" "$RESULTS_DIR/latest.txt"
cp "$TMP/raw.txt" "$RESULTS_DIR/$stamp.wrk.txt"
{
	printf 'target\tround\treq_per_s\tp50_us\tp99_us\terrors\tcpu_us_per_req\n'
	for t in "${TARGETS[@]}"; do
		awk -v t="$t" -F'\t' -v OFS='\t' '{ print t, NR, $1, $2, $3, $4, $5 }' "$TMP/res/$t.tsv"
	done
	for t in "${TARGETS[@]}"; do
		[[ -f $TMP/res/paired-$t.tsv ]] || continue
		awk -v t="$t" -F'\t' -v OFS='\t' '{ print "paired:bare-proxy", NR, $1, "", "", $5, $3; print "paired:" t, NR, $2, "", "", $5, $4 }' \
			"$TMP/res/paired-$t.tsv"
	done
} >"$RESULTS_DIR/$stamp.tsv"
log "results written to $RESULTS_DIR/$stamp.{txt,tsv,wrk.txt} and latest.txt"
if grep -q 'BELOW TARGET' "$TMP/report.txt" && [[ $STRICT == 1 ]]; then
	exit 1
fi
