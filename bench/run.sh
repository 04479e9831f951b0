#!/usr/bin/env bash
# bench/run.sh: load benchmark of the gateway core.
#
# Builds gatehouse and the reference servers, then measures with wrk, in
# one run and in interleaved rounds:
#   upstream        the backend alone (the ceiling),
#   bare-proxy      a bare httputil.ReverseProxy in front of it (the floor of
#                   any Go proxy),
#   gatehouse:NAME  gatehouse running scenario NAME (see scenario_* below),
#   eg:NAME         Express Gateway (npm) running the same scenario,
#   haproxy:NAME    HAProxy (Debian's haproxy) doing the same job: proxy,
#                   jwt-hs256 and jwt-rs256 (jwt_verify on every request),
#                   key-auth (a map of keys); see peer_haproxy,
#   nginx:NAME      nginx (Debian's nginx): proxy and key-auth (a map),
#   nopgo:NAME      gatehouse built with -pgo=off running scenario NAME, to
#                   measure cmd/gatehouse/default.pgo's gain in the same run,
#   logon:NAME      gatehouse running scenario NAME with its default JSON
#                   access log written to a file (the others log nothing),
#                   to measure the access log's cost in the same run.
# Prints requests/s, p50, p99, p99.9, CPU per request and RSS under load
# (peak and median) per target, the ratios to bare-proxy, upstream, Express
# Gateway, HAProxy and nginx, and writes them to bench/results/ (git-ignored).
# BENCH_ISSUE=10m instead issues opaque tokens (memory store) at full speed
# for that long and reports RSS and tokens/s minute by minute.
#
# Usage: bash bench/run.sh            (from anywhere)
#        BENCH_SCENARIOS="proxy jwt-hs256 eg:proxy eg:jwt-hs256" bash bench/run.sh
# Settings (environment):
#   BENCH_DURATION     wrk duration of one measurement        (default 10s)
#   BENCH_WARMUP       wrk warm-up per target, 0 to skip      (default 2s)
#   BENCH_THREADS      wrk threads                            (default 1)
#   BENCH_CONNECTIONS  wrk connections                        (default 64)
#   BENCH_ROUNDS       interleaved rounds per target          (default 3)
#   BENCH_PICK         best (highest req/s) or median round   (default best)
#   BENCH_SCENARIOS    targets, space-separated: NAME runs gatehouse with
#                      scenario NAME, eg:NAME runs Express Gateway with it,
#                      haproxy:NAME and nginx:NAME the C peers, nopgo:NAME
#                      gatehouse without PGO, logon:NAME with the access log
#                      on (default: proxy; `all` = every
#                      gatehouse scenario, `eg-all` = the Express Gateway
#                      comparisons, `peers` = every HAProxy and nginx target)
#   BENCH_PORT_BASE    first port used on 127.0.0.1           (default 28100)
#   BENCH_TARGET       minimum gatehouse/bare req/s ratio of the proxy
#                      scenario                               (default 0.90)
#   BENCH_AUTH_TARGET  the same for the auth scenarios        (default 0.85)
#   BENCH_TOKEN_TARGET minimum tokens/s of /oauth2/token      (default 5000)
#   BENCH_COLD_JWT     distinct JWTs cycled by the *-cold jwt scenarios
#                      (default 11000: more than the 10,000-token cache)
#   BENCH_COLD_OPAQUE  distinct opaque tokens of oauth2-cold (default 110000:
#                      more than the 100,000-record cache)
#   BENCH_PAIRED       1: also measure each scenario paired with bare-proxy
#                      (both loaded at once, half the connections each)  (default 1)
#   BENCH_GOGC         GOGC for every Go server process (default: Go's default, 100)
#   BENCH_STRICT       1: exit 1 when a scenario is below its target
#   BENCH_RESULTS_DIR  where results go                       (default bench/results)
#   BENCH_EG_DIR       where Express Gateway is installed (bench/eg/setup.sh)
#   BENCH_EG_WARMUP    warm-up of the eg:NAME targets (JIT)   (default 5s)
#   BENCH_PGO          off: build gatehouse with -pgo=off     (default: the
#                      go command's default, cmd/gatehouse/default.pgo)
#   BENCH_PROFILE      a folder: gatehouse targets run as bench/profserve
#                      (the same gateway with a CPU and an allocation
#                      profile of the run), written there as
#                      cpu-NAME.pprof and allocs-NAME.pprof (make pgo)
#   BENCH_STRACE       1: after the rounds, count each target's system calls
#                      (strace -c -f) during one more wrk run of
#                      BENCH_STRACE_DURATION (default 3s) and report them
#                      per request (strace slows the target: only the
#                      counts mean something, not that run's speed)
#   BENCH_RSS_TARGET   maximum peak RSS under load, MB, of the repeated-token
#                      gatehouse targets                      (default 32)
#   BENCH_P99_TARGET   maximum gatehouse p99 / HAProxy p99, same scenario
#                                                             (default 1.5)
#   BENCH_LOG_TARGET   minimum logon:NAME / gatehouse:NAME req/s (default 0.90)
#   BENCH_ACCESS_LOG_DIR  where logon:NAME writes its access log (default: the
#                      run's temporary folder; removed on exit)
#   BENCH_ISSUE        a duration (10m): only issue tokens for that long,
#                      client_credentials, opaque, memory store, at full speed,
#                      sampling RSS; report start/peak/end RSS and tokens/s per
#                      minute (no other target runs)
#   BENCH_ISSUE_TTL    access-token lifetime of that run      (default 60s)
#   BENCH_ISSUE_STEP   the length of each of its wrk runs, reported one by
#                      one                                    (default 60s)
#
# Adding a scenario: write a function scenario_NAME that takes a config dir,
# writes gateway.config.yml (and whatever else it needs) into it and sets
# SC_PATH (the request path) and optionally the other SC_* variables listed
# at reset_scenario. An optional scenario_NAME_ready <config-dir> <port>
# runs once the gateway is listening (e.g. to create consumers through the
# Admin API on ADMIN_PORT). SC_KIND says which gateway the config is for
# (gatehouse or eg). Then add NAME (or eg:NAME) to BENCH_SCENARIOS.
set -euo pipefail
umask 077 # keys, tokens and configs in $TMP are for this user only

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
AUTH_TARGET=${BENCH_AUTH_TARGET:-0.85}
TOKEN_TARGET=${BENCH_TOKEN_TARGET:-5000}
COLD_JWT=${BENCH_COLD_JWT:-11000}
COLD_OPAQUE=${BENCH_COLD_OPAQUE:-110000}
STRICT=${BENCH_STRICT:-0}
PAIRED=${BENCH_PAIRED:-1}
RESULTS_DIR=${BENCH_RESULTS_DIR:-$ROOT/bench/results}
EG_WARMUP=${BENCH_EG_WARMUP:-5s}
PGO=${BENCH_PGO:-auto}
PROFILE_DIR=${BENCH_PROFILE:-}
STRACE=${BENCH_STRACE:-0}
STRACE_DURATION=${BENCH_STRACE_DURATION:-3s}
RSS_TARGET=${BENCH_RSS_TARGET:-32}
P99_TARGET=${BENCH_P99_TARGET:-1.5}
LOG_TARGET=${BENCH_LOG_TARGET:-0.90}
ISSUE=${BENCH_ISSUE:-}
ISSUE_TTL=${BENCH_ISSUE_TTL:-60s}
ISSUE_STEP=${BENCH_ISSUE_STEP:-60s}
if [[ -n $ISSUE ]]; then
	SCENARIOS=token-issue # the issuing run measures nothing else
fi

# Named sets for BENCH_SCENARIOS.
ALL_SCENARIOS="proxy jwt-hs256 jwt-rs256 jwt-es256 jwt-jwks key-auth basic-auth oauth2-introspect oauth2 oauth2-jwt
  jwt-hs256-cold jwt-rs256-cold oauth2-cold token token-mem token-jwt"
EG_SCENARIOS="eg:proxy eg:jwt-hs256 eg:key-auth eg:basic-auth eg:oauth2"
PEER_SCENARIOS="haproxy:proxy haproxy:jwt-hs256 haproxy:jwt-rs256 haproxy:key-auth nginx:proxy nginx:key-auth"
expanded=
for sc in $SCENARIOS; do
	case $sc in
	all) expanded+=" $ALL_SCENARIOS" ;;
	eg-all) expanded+=" $EG_SCENARIOS" ;;
	peers) expanded+=" $PEER_SCENARIOS" ;;
	*) expanded+=" $sc" ;;
	esac
done
SCENARIOS=$expanded

UPSTREAM_PORT=$((PORT_BASE + 1))
BARE_PORT=$((PORT_BASE + 2))
AUX_PORT=$((PORT_BASE + 3)) # bench/tokens serve: JWKS and introspection
export BENCH_UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT" # used by the scenario configs

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
KEYS=$TMP/keys
PIDS=()     # every server this script started
WRK_PIDS=() # the wrk runs in progress
AUX_PID=
EG_DIR=
SAMPLER_PID=   # the RSS sampler of the run in progress
ACCESS_LOGS=() # logon:NAME's access-log files, removed on exit

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
	for pid in ${WRK_PIDS[@]+"${WRK_PIDS[@]}"} $SAMPLER_PID ${PIDS[@]+"${PIDS[@]}"}; do
		stop "$pid"
	done
	rm -f ${ACCESS_LOGS[@]+"${ACCESS_LOGS[@]}"}
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- scenarios

# reset_scenario sets every SC_* variable a scenario may set to its default.
reset_scenario() {
	SC_PATH=/bench/items # request path
	SC_HEADERS=()        # fixed wrk -H values (nothing secret: they show in ps)
	SC_EXPECT=200        # the status a request must get, checked before measuring
	SC_FLAGS=()          # extra `gatehouse serve` flags
	SC_METHOD=GET        # request method...
	SC_BODY=             # ...and body (form-encoded), sent by bench/wrk/request.lua
	SC_TOKENS=           # file of credentials, one per line: one = every request
	#                      sends it; several = each request the next one (cold path)
	SC_TOKEN_HEADER=Authorization
	SC_TOKEN_PREFIX="Bearer "
	SC_TARGET=$AUTH_TARGET # minimum req/s ratio to bare-proxy; empty: report only
	SC_BASELINE=1          # 0: not a proxied request (token endpoint): no ratio to bare-proxy
	SC_MIN_RPS=            # minimum req/s, for SC_BASELINE=0 scenarios
	SC_WRK_FLAGS=()        # extra wrk flags
	SC_DURATION=           # wrk duration of this target's runs (default BENCH_DURATION)
}

# config_common prints the parts of gateway.config.yml every scenario shares:
# the listener (port from EG_HTTP_PORT, set when the gateway starts), the
# Admin API (port from EG_ADMIN_PORT; loopback, no key), one apiEndpoint and
# the upstream. Express Gateway calls the listen address `hostname`, which
# Gatehouse also accepts. Scenarios add policies and pipelines.
config_common() {
	local h=host
	[[ $SC_KIND == eg ]] && h=hostname
	cat <<YAML
http:
  $h: 127.0.0.1
  port: \${EG_HTTP_PORT}
admin:
  host: 127.0.0.1
  port: \${EG_ADMIN_PORT}
YAML
	cat <<'YAML'
apiEndpoints:
  bench:
    host: '*'
    paths: ['/bench', '/bench/*']
serviceEndpoints:
  upstream:
    url: ${BENCH_UPSTREAM}
YAML
}

# config_pipeline POLICY [ACTION]: the policies list and the bench pipeline,
# a POLICY step (with the YAML lines of ACTION as its action, if any) then
# the proxy to the upstream.
config_pipeline() {
	local policy=$1 action=${2:-}
	printf 'policies: [%s, proxy]\n' "$policy"
	printf 'pipelines:\n  bench:\n    apiEndpoints: [bench]\n    policies:\n'
	if [[ -n $action ]]; then
		printf '      - %s:\n          - action:\n' "$policy"
		sed 's/^/              /' <<<"$action"
	else
		printf '      - %s:\n' "$policy"
	fi
	printf '      - proxy:\n          - action:\n              serviceEndpoint: upstream\n'
}

# scenario_proxy: the plain proxy pipeline, gatehouse's floor.
scenario_proxy() {
	local dir=$1
	SC_TARGET=$TARGET
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

# jwt_scenario DIR ALG SOURCE N: the jwt policy in uncontrolled mode
# (checkCredentialExistence: false, as Express Gateway was measured), the key
# given inline (HS256), as a PEM file (RS256, ES256) or by a JWKS URI served
# by bench/tokens; N distinct tokens (1: every request sends the same one,
# the verified-token cache answers; more than the cache holds: each request
# is a full verification).
jwt_scenario() {
	local dir=$1 alg=$2 src=$3 n=$4 key
	bench_keys
	case $src:$alg in
	key:HS256) key="secretOrPublicKey: '$(<"$KEYS/hs256.key")'" ;;
	key:RS256) key="secretOrPublicKeyFile: $KEYS/rsa.pub" ;;
	key:ES256) key="secretOrPublicKeyFile: $KEYS/ec.pub" ;;
	jwks:*)
		aux_server
		key="jwksUri: http://127.0.0.1:$AUX_PORT/jwks.json"
		;;
	esac
	{
		config_common
		config_pipeline jwt "$key
checkCredentialExistence: false"
	} >"$dir/gateway.config.yml"
	jwt_tokens "$alg" "$src" "$n"
}

scenario_jwt-hs256() { jwt_scenario "$1" HS256 key 1; }
scenario_jwt-rs256() { jwt_scenario "$1" RS256 key 1; }
scenario_jwt-es256() { jwt_scenario "$1" ES256 key 1; }
scenario_jwt-jwks() { jwt_scenario "$1" RS256 jwks 1; } # RS256 with a kid, as Auth0 signs
scenario_jwt-hs256-cold() {
	jwt_scenario "$1" HS256 key "$COLD_JWT"
	SC_TARGET=
}
scenario_jwt-rs256-cold() {
	jwt_scenario "$1" RS256 key "$COLD_JWT"
	SC_TARGET=
}

# scenario_key-auth: key-auth with Express Gateway's defaults
# (Authorization: apiKey <keyId>:<keySecret>), one user and one key.
scenario_key-auth() {
	{
		config_common
		config_pipeline key-auth
	} >"$1/gateway.config.yml"
}
scenario_key-auth_ready() {
	seed_user bench
	seed_credential "$SEED_ID" key-auth "$1/key"
	SC_TOKENS=$1/key SC_TOKEN_PREFIX="apiKey "
}

# scenario_basic-auth: basic-auth with a password the user chose, so stored
# with bcrypt (cost 10): Gatehouse verifies it once and remembers it,
# Express Gateway runs bcrypt on every request.
scenario_basic-auth() {
	{
		config_common
		config_pipeline basic-auth
	} >"$1/gateway.config.yml"
	if [[ $SC_KIND == eg ]]; then
		# Express Gateway runs bcryptjs on its event loop, interleaving the
		# 64 connections' checks: the first answers come after some 6 s, so
		# its runs last longer, and a slow answer is not a socket error.
		SC_WRK_FLAGS=(--timeout 30s) SC_DURATION=30s
	fi
}
scenario_basic-auth_ready() {
	local pw
	pw=$(openssl rand -hex 12)
	seed_user bench
	seed_credential "$SEED_ID" basic-auth "$1/unused" "$pw"
	printf 'bench:%s' "$pw" | base64 -w0 >"$1/basic"
	SC_TOKENS=$1/basic SC_TOKEN_PREFIX="Basic "
}

# scenario_oauth2-introspect: oauth2-introspect against bench/tokens serve
# (an RFC 7662 endpoint on loopback), default ttl: the first request asks,
# the others are answered from the cache.
scenario_oauth2-introspect() {
	aux_server
	{
		config_common
		config_pipeline oauth2-introspect "endpoint: http://127.0.0.1:$AUX_PORT/introspect
authorization_value: Basic YmVuY2g6YmVuY2g="
	} >"$1/gateway.config.yml"
	SC_TOKENS=$1/introspect-token
	"$TMP/bin/tokens" random -n 1 -out "$SC_TOKENS"
}

# oauth2_config DIR [SYSTEM]: the oauth2 policy (which also mounts the
# authorization server) in front of the upstream; SYSTEM is written as
# system.config.yml (default: none, so the embedded store and opaque tokens).
oauth2_config() {
	local dir=$1 system=${2:-}
	{
		config_common
		config_pipeline oauth2
	} >"$dir/gateway.config.yml"
	if [[ -n $system ]]; then
		printf '%s\n' "$system" >"$dir/system.config.yml"
	fi
}

# oauth2_client DIR: a user, its application and the application's oauth2
# credential; leaves "client_id:client_secret" in DIR/client.
oauth2_client() {
	local dir=$1 user
	seed_user bench
	user=$SEED_ID
	seed_app "$user" bench-app
	seed_credential "$SEED_ID" oauth2 "$dir/client"
}

# oauth2_tokens DIR PORT N: N access tokens from the gateway's /oauth2/token
# (client_credentials), in DIR/tokens.
oauth2_tokens() {
	local dir=$1 port=$2 n=$3 t0
	t0=$(date +%s.%N)
	"$TMP/bin/tokens" issue -url "http://127.0.0.1:$port/oauth2/token" -client "$dir/client" \
		-n "$n" -c 64 -out "$dir/tokens" || die "could not get $n access tokens from $SC_KIND"
	if ((n > 1)); then
		log "  $n tokens issued in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs (%.0f/s, 64 at a time)", b - a, '"$n"' / (b - a) }')"
	fi
	SC_TOKENS=$dir/tokens
}

JWT_SYSTEM='accessTokens:
  tokenType: jwt'
MEM_SYSTEM='db:
  redis:
    emulate: true'

# scenario_oauth2: opaque access tokens of gatehouse's own server (embedded
# store), one token for every request.
scenario_oauth2() { oauth2_config "$1"; }
scenario_oauth2_ready() {
	oauth2_client "$1"
	oauth2_tokens "$1" "$2" 1
}

# scenario_oauth2-jwt: the same with RFC 9068 JWT access tokens (generated
# ES256 keys).
scenario_oauth2-jwt() { oauth2_config "$1" "$JWT_SYSTEM"; }
scenario_oauth2-jwt_ready() { scenario_oauth2_ready "$@"; }

# scenario_oauth2-cold: opaque tokens, BENCH_COLD_OPAQUE of them cycled: more
# than the node's record cache holds, so every request reads the store.
scenario_oauth2-cold() {
	oauth2_config "$1"
	SC_TARGET=
}
scenario_oauth2-cold_ready() {
	oauth2_client "$1"
	log "  getting $COLD_OPAQUE access tokens for the cold path"
	oauth2_tokens "$1" "$2" "$COLD_OPAQUE"
}

# token_scenario DIR [SYSTEM]: POST /oauth2/token, client_credentials,
# HTTP Basic client authentication; a new access token per request.
token_scenario() {
	oauth2_config "$@"
	SC_PATH=/oauth2/token SC_METHOD=POST SC_BODY=grant_type=client_credentials
	SC_BASELINE=0 SC_TARGET= SC_MIN_RPS=$TOKEN_TARGET
}
token_ready() {
	oauth2_client "$1"
	tr -d '\n' <"$1/client" | base64 -w0 >"$1/basic" # ids and generated secrets need no form-encoding
	SC_TOKENS=$1/basic SC_TOKEN_PREFIX="Basic "
}
scenario_token() { token_scenario "$1"; } # embedded store, opaque tokens
scenario_token_ready() { token_ready "$@"; }
scenario_token-mem() { token_scenario "$1" "$MEM_SYSTEM"; } # memory store (db.redis.emulate)
scenario_token-mem_ready() { token_ready "$@"; }
scenario_token-jwt() { token_scenario "$1" "$JWT_SYSTEM"; } # embedded store, JWT access tokens
scenario_token-jwt_ready() { token_ready "$@"; }

# scenario_token-issue: BENCH_ISSUE's run: opaque tokens on the memory store
# (each held in the process until it expires and the next sweep), with a
# lifetime of BENCH_ISSUE_TTL, so that RSS levels off at issue rate x
# (lifetime + a sweep) tokens (docs/operations.md, "Memory while issuing").
scenario_token-issue() {
	token_scenario "$1" "$MEM_SYSTEM
accessTokens:
  timeToExpiry: $(($(to_seconds "$ISSUE_TTL") * 1000))"
}
scenario_token-issue_ready() { token_ready "$@"; }

# ---------------------------------------------------------------- credentials

# bench_keys makes the signing keys once per run (bench/tokens keys).
bench_keys() {
	[[ -f $KEYS/jwks.json ]] || "$TMP/bin/tokens" keys -dir "$KEYS" || die "could not make keys"
}

# jwt_tokens ALG SOURCE N: sets SC_TOKENS to a file of N tokens signed with
# ALG (with the key's kid when SOURCE is jwks), made once per run.
jwt_tokens() {
	local alg=$1 src=$2 n=$3 f extra=()
	f=$KEYS/jwt-$alg-$src-$n.txt
	[[ $src == jwks ]] && extra=(-kid)
	if [[ ! -f $f ]]; then
		if ((n > 1)); then log "  minting $n $alg tokens"; fi
		"$TMP/bin/tokens" jwt -dir "$KEYS" -alg "$alg" -n "$n" -out "$f" ${extra[@]+"${extra[@]}"} || die "could not mint $alg tokens"
	fi
	SC_TOKENS=$f
}

# aux_server starts bench/tokens serve once: the JWKS and the
# introspection endpoint.
aux_server() {
	[[ -z $AUX_PID ]] || return 0
	bench_keys
	port_free "$AUX_PORT"
	start aux "$TMP/bin/tokens" serve -addr "127.0.0.1:$AUX_PORT" -dir "$KEYS"
	AUX_PID=$STARTED
	wait_status aux "$AUX_PID" "$AUX_PORT" /jwks.json 200 "$TMP/logs/aux.log"
}

# admin_wait waits (bounded: 10s) until the Admin API on ADMIN_PORT answers.
admin_wait() {
	local path=/healthz i
	[[ $SC_KIND == eg ]] && path=/scopes
	for ((i = 0; i < 100; i++)); do
		[[ $(http_status "$ADMIN_PORT" "$path") == 200 ]] && return 0
		sleep 0.1
	done
	die "$SC_KIND: the Admin API on port $ADMIN_PORT does not answer"
}

# gh runs the gatehouse CLI against the Admin API of the scenario being set up.
gh() { "$TMP/bin/gatehouse" "$@" --admin-url "http://127.0.0.1:$ADMIN_PORT"; }

# eg_api METHOD PATH: one call to Express Gateway's Admin API with the JSON
# body read from stdin (so that no secret is on a command line); prints the
# answer.
eg_api() {
	curl -sS -f --max-time 10 -X "$1" -H 'Content-Type: application/json' --data-binary @- \
		"http://127.0.0.1:$ADMIN_PORT$2"
}

# seed_user NAME: creates a user; SEED_ID is its id.
seed_user() {
	admin_wait
	case $SC_KIND in
	gatehouse) SEED_ID=$(gh users create -p "username=$1" -p firstname=Bench -p lastname=User -q) ;;
	eg) SEED_ID=$(printf '{"username":"%s","firstname":"Bench","lastname":"User"}' "$1" | eg_api POST /users | jq -r .id) ;;
	esac
	[[ -n $SEED_ID && $SEED_ID != null ]] || die "$SC_KIND: could not create user $1"
}

# seed_app USER NAME: creates an application of USER; SEED_ID is its id.
seed_app() {
	case $SC_KIND in
	gatehouse) SEED_ID=$(gh apps create -u "$1" -p "name=$2" -p redirectUri=http://127.0.0.1/cb -q) ;;
	eg) SEED_ID=$(printf '{"userId":"%s","name":"%s","redirectUri":"http://127.0.0.1/cb"}' "$1" "$2" | eg_api POST /apps | jq -r .id) ;;
	esac
	[[ -n $SEED_ID && $SEED_ID != null ]] || die "$SC_KIND: could not create application $2"
}

# seed_credential CONSUMER TYPE FILE [PASSWORD]: creates a credential and
# writes what a client presents to FILE: keyId:keySecret (key-auth) or
# client_id:client_secret (oauth2). basic-auth takes PASSWORD.
seed_credential() {
	local consumer=$1 type=$2 file=$3 pw=${4:-}
	case $SC_KIND:$type in
	gatehouse:basic-auth)
		printf '{"consumer":"%s","type":"basic-auth","password":"%s"}\n' "$consumer" "$pw" |
			gh credentials create --stdin -q >"$file"
		;;
	gatehouse:*) gh credentials create -c "$consumer" -t "$type" -q >"$file" ;;
	eg:basic-auth)
		printf '{"consumerId":"%s","type":"basic-auth","credential":{"password":"%s"}}' "$consumer" "$pw" |
			eg_api POST /credentials >/dev/null
		: >"$file"
		;;
	eg:key-auth)
		printf '{"consumerId":"%s","type":"key-auth","credential":{}}' "$consumer" |
			eg_api POST /credentials | jq -j '.keyId + ":" + .keySecret' >"$file"
		;;
	eg:oauth2)
		printf '{"consumerId":"%s","type":"oauth2","credential":{}}' "$consumer" |
			eg_api POST /credentials | jq -j --arg id "$consumer" '$id + ":" + .secret' >"$file"
		;;
	esac || die "$SC_KIND: could not create a $type credential"
	[[ $type == basic-auth || -s $file ]] || die "$SC_KIND: the $type credential came back empty"
}

# ---------------------------------------------------------------- Express Gateway

# eg_install installs Express Gateway once (bench/eg/setup.sh); EG_DIR is
# where. EG_ERROR says why when it cannot.
eg_install() {
	[[ -n $EG_DIR || -n ${EG_ERROR:-} ]] && return 0
	if ! command -v node >/dev/null; then
		EG_ERROR="node is not installed"
		return 0
	fi
	if ! EG_DIR=$(bash "$ROOT/bench/eg/setup.sh" 2>"$TMP/logs/eg-setup.log"); then
		EG_DIR=
		EG_ERROR="npm install express-gateway failed on node $(node --version): $(tail -n 3 "$TMP/logs/eg-setup.log" | tr '\n' ' ')"
	fi
}

# eg_system DIR: Express Gateway's system.config.yml (its shipped file, the
# in-memory store: db.redis.emulate true) and its models.
eg_system() {
	local dir=$1
	cp -r "$EG_DIR/node_modules/express-gateway/lib/config/models" "$dir/"
	cat >"$dir/system.config.yml" <<'YAML'
db:
  redis:
    emulate: true
    namespace: EG
crypto:
  cipherKey: sensitiveKey
  algorithm: aes256
  saltRounds: 10
session:
  secret: keyboard cat
  resave: false
  saveUninitialized: false
accessTokens:
  timeToExpiry: 7200000
refreshTokens:
  timeToExpiry: 7200000
authorizationCodes:
  timeToExpiry: 300000
YAML
}

# ---------------------------------------------------------------- HAProxy and nginx

# The C proxies a team would put in front of an API instead of a gateway,
# doing the same job as the gatehouse scenario of the same name, in front of
# the same upstream: a pool of keep-alive upstream connections, no access
# log, as many threads/workers as CPUs. The auth targets refuse a request
# without a valid credential (401), remove the credential before forwarding
# and send the caller's identity upstream in a header, as the gateway does.

# peer_install KIND: installs Debian's haproxy or nginx with apt-get when it
# is missing. PEER_ERROR says why when that fails (the targets of that
# KIND are then skipped, not fatal).
declare -A PEER_ERROR
peer_install() {
	local kind=$1 sudo=
	[[ -n ${PEER_ERROR[$kind]+set} ]] && return 0
	PEER_ERROR[$kind]=
	command -v "$kind" >/dev/null && return 0
	[[ $(id -u) == 0 ]] || sudo=sudo
	log "$kind not found: installing it (apt-get install -y $kind)"
	if ! { $sudo apt-get install -y "$kind" >"$TMP/logs/apt-$kind.log" 2>&1 ||
		{ $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y "$kind" >>"$TMP/logs/apt-$kind.log" 2>&1; }; }; then
		PEER_ERROR[$kind]="$kind is not installed and apt-get install -y $kind failed (install it, then rerun)"
		return 0
	fi
	# Debian's packages start a system service on install where an init
	# system runs: it would take CPU (and, for nginx, port 80) during the runs.
	command -v systemctl >/dev/null && $sudo systemctl stop "$kind" >/dev/null 2>&1 || true
	command -v "$kind" >/dev/null || PEER_ERROR[$kind]="apt-get install -y $kind did not install the $kind command"
}

# peer_key_auth DIR: the key-auth credential of the peers: the one the
# gatehouse key-auth scenario created, when it ran before in this run (so
# that the requests are byte for byte the same), else one of the same shape
# (a 22-character key id, a 43-character secret). Leaves it in DIR/key and
# sets SC_TOKENS, SC_TOKEN_PREFIX as scenario_key-auth_ready does.
peer_key_auth() {
	local dir=$1 gk=$TMP/config-gatehouse-key-auth/key
	if [[ -s $gk ]]; then
		cp "$gk" "$dir/key"
	else
		printf '%s:%s' "$(openssl rand -hex 11)" "$(openssl rand -base64 32 | tr -d '=\n' | tr '+/' '-_')" >"$dir/key"
	fi
	SC_TOKENS=$dir/key SC_TOKEN_PREFIX="apiKey "
}

# peer_filler_keys N: N random keyId:keySecret lines, so that the peers'
# key maps are maps (a lookup among many keys), not a single comparison.
# One openssl call: a thousand of them take a minute on a busy machine.
peer_filler_keys() {
	openssl rand -hex $(($1 * 32)) | tr -d '\n' | fold -w 64 | sed 's/^\(.\{22\}\)/\1:/'
	echo
}

# peer_haproxy NAME DIR PORT: DIR/haproxy.cfg for scenario NAME.
# jwt-hs256 and jwt-rs256 run HAProxy 2.5+'s jwt_verify converter on every
# request (HAProxy has no verified-token cache), plus the alg and exp checks
# a JWT check needs (RFC 7519 section 4.1.4), with the keys and the token of
# the gatehouse jwt scenarios; key-auth looks the credential of
# "Authorization: apiKey <keyId>:<keySecret>" up in a map file.
peer_haproxy() {
	local name=$1 dir=$2 port=$3 rules=
	case $name in
	proxy) ;;
	jwt-hs256 | jwt-rs256)
		local alg=HS256 key
		[[ $name == jwt-rs256 ]] && alg=RS256
		bench_keys
		jwt_tokens "$alg" key 1
		if [[ $alg == HS256 ]]; then key=$(<"$KEYS/hs256.key"); else key=$KEYS/rsa.pub; fi
		rules="  http-request set-var(txn.bearer) http_auth_bearer
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_header_query('\$.alg') -m str $alg }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(\"$alg\",\"$key\") -m int 1 }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny deny_status 401 if { var(txn.exp),sub(txn.now) -m int le 0 }
  http-request set-header X-Consumer-Id %[var(txn.bearer),jwt_payload_query('\$.sub')]
  http-request del-header Authorization"
		;;
	key-auth)
		peer_key_auth "$dir"
		{
			printf '%s bench\n' "$(<"$dir/key")"
			peer_filler_keys 999 | sed 's/$/ other/'
		} >"$dir/keys.map"
		rules="  http-request deny deny_status 401 unless { req.hdr(authorization) -m beg \"apiKey \" }
  http-request set-var(txn.consumer) req.hdr(authorization),word(2,' '),map_str($dir/keys.map)
  http-request deny deny_status 401 unless { var(txn.consumer) -m found }
  http-request set-header X-Consumer-Id %[var(txn.consumer)]
  http-request del-header Authorization"
		;;
	*) die "no haproxy:$name target (peer_haproxy knows proxy, jwt-hs256, jwt-rs256 and key-auth)" ;;
	esac
	cat >"$dir/haproxy.cfg" <<CFG
global
  nbthread $(nproc)
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 120s

frontend bench
  bind 127.0.0.1:$port
$rules
  default_backend upstream

backend upstream
  http-reuse always
  server upstream 127.0.0.1:$UPSTREAM_PORT maxconn 1024
CFG
}

# peer_nginx NAME DIR PORT: DIR/nginx.conf for scenario NAME (proxy, or
# key-auth with a map of the full Authorization header to the consumer).
# keepalive_requests is raised from nginx's 1000 so that, like the Go
# servers, it does not close keep-alive connections during a run.
peer_nginx() {
	local name=$1 dir=$2 port=$3 maps= rules=
	case $name in
	proxy) ;;
	key-auth)
		peer_key_auth "$dir"
		{
			printf '"apiKey %s" bench;\n' "$(<"$dir/key")"
			peer_filler_keys 999 | sed 's/^\(.*\)$/"apiKey \1" other;/'
		} >"$dir/keys.map"
		maps="  map \$http_authorization \$consumer {
    default \"\";
    include $dir/keys.map;
  }"
		rules="      if (\$consumer = \"\") { return 401; }
      proxy_set_header Authorization \"\";
      proxy_set_header X-Consumer-Id \$consumer;"
		;;
	*) die "no nginx:$name target (peer_nginx knows proxy and key-auth)" ;;
	esac
	mkdir -p "$dir/tmp"
	cat >"$dir/nginx.conf" <<CFG
worker_processes $(nproc);
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  map_hash_bucket_size 128;
$maps
  upstream upstream {
    server 127.0.0.1:$UPSTREAM_PORT;
    keepalive 256;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
$rules
      proxy_pass http://upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CFG
}

# peer_check KIND DIR: the peer's own config check; prints why it fails.
# For HAProxy that is also where a build without jwt_verify (before 2.5)
# says so.
peer_check() {
	local kind=$1 dir=$2
	local out
	case $kind in
	haproxy) out=$(haproxy -c -q -f "$dir/haproxy.cfg" 2>&1) && return 0 ;;
	nginx) out=$(nginx -t -q -p "$dir" -c "$dir/nginx.conf" 2>&1) && return 0 ;;
	esac
	printf '%s' "$out" | grep -m 3 -iE 'alert|emerg|error|unknown|fail' | tr '\n' ' ' || printf '%s failed its config check' "$kind"

}

# peer_version KIND: "HAProxy 2.6.12" or "nginx 1.22.1".
peer_version() {
	case $1 in
	# awk reads to the end: exiting after the first line would kill
	# haproxy -v with SIGPIPE, which pipefail turns into the script's exit
	haproxy) haproxy -v 2>/dev/null | awk 'NR == 1 { print "HAProxy " $3 }' ;;
	nginx) nginx -v 2>&1 | sed -n 's|^nginx version: nginx/|nginx |p' ;;
	esac
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

# http_status PORT PATH [CURL-ARGS...] prints the status of a request to
# http://127.0.0.1:PORT/PATH (a GET unless the arguments say otherwise), or
# 000 when nothing answers.
http_status() {
	local port=$1 path=$2
	shift 2
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "http://127.0.0.1:$port$path" 2>/dev/null || true
}

# wait_status NAME PID PORT PATH EXPECT LOGFILE [CURL-ARGS...] waits (bounded:
# 10s) until a request gets the expected status.
wait_status() {
	local name=$1 pid=$2 port=$3 path=$4 expect=$5 logfile=$6 i got=000
	shift 6
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$logfile" >&2 || true
			die "$name exited during startup"
		fi
		got=$(http_status "$port" "$path" "$@")
		[[ $got == "$expect" ]] && return 0
		sleep 0.1
	done
	tail -n 20 "$logfile" >&2 || true
	die "$name: request to $path answered $got, want $expect (after 10s)"
}

# port_free fails when something already listens on 127.0.0.1:PORT (a
# leftover process would otherwise be measured instead of ours).
port_free() {
	[[ $(http_status "$1" /) == 000 ]] || die "port $1 is in use: set BENCH_PORT_BASE to a free range"
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
# and its live children (nginx's workers) have used so far.
cpu_ticks() {
	local pids=("/proc/$1/stat") c
	for c in $(pgrep -P "$1" 2>/dev/null); do pids+=("/proc/$c/stat"); done
	awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }' "${pids[@]}" 2>/dev/null
}

# target_pids PID prints PID and its children (nginx's workers; HAProxy and
# the Go servers are one process).
target_pids() {
	echo "$1"
	pgrep -P "$1" 2>/dev/null || true
}

# rss_sampler FILE PID...: every 200 ms, until it is stopped, appends
# "time-us rss-kB hwm-kB" to FILE: VmRSS and VmHWM (the peak RSS since the
# process started) from /proc/PID/status, summed over the PIDs (so for
# nginx the shared pages of its workers count once per worker). Bash reads
# /proc itself: a sample costs one fork (sleep), nothing the run would see.
rss_sampler() {
	local file=$1 p k v _ rss hwm
	shift
	while :; do
		rss=0 hwm=0
		for p in "$@"; do
			while read -r k v _; do
				case $k in
				VmRSS:) rss=$((rss + v)) ;;
				VmHWM:) hwm=$((hwm + v)) ;;
				esac
			done 2>/dev/null <"/proc/$p/status" || true
		done
		echo "${EPOCHREALTIME/./} $rss $hwm"
		sleep 0.2
	done >>"$file"
}

# start_sampler FILE PID starts rss_sampler on PID and its children;
# stop_sampler ends it.
start_sampler() {
	# shellcheck disable=SC2046 # one pid per word
	rss_sampler "$1" $(target_pids "$2") &
	SAMPLER_PID=$!
}
stop_sampler() {
	[[ -z $SAMPLER_PID ]] || stop "$SAMPLER_PID"
	SAMPLER_PID=
}

# rss_summary FILE [FROM-US [TO-US]] prints "peak-kB median-kB hwm-kB last-kB
# samples" of FILE's samples (those taken between FROM and TO), or zeros.
rss_summary() {
	awk -v from="${2:-0}" -v to="${3:-0}" '
		$1 >= from && (to == 0 || $1 <= to) && $2 > 0 { r[++n] = $2; if ($2 > pk) pk = $2; if ($3 > hwm) hwm = $3; last = $2 }
		END {
			if (n == 0) { print "0 0 0 0 0"; exit }
			for (i = 2; i <= n; i++) { v = r[i]; for (j = i - 1; j > 0 && r[j] > v; j--) r[j + 1] = r[j]; r[j + 1] = v }
			printf "%d %d %d %d %d\n", pk, (r[int((n + 1) / 2)] + r[int(n / 2) + 1]) / 2, hwm, last, n }' "$1" 2>/dev/null || echo "0 0 0 0 0"
}

fmt_mb() { awk -v kb="$1" 'BEGIN { printf "%.1fMB", kb / 1024 }'; }

# cache_stats PORT prints "record-hits record-misses secret-hits
# secret-misses" from gatehouse's /metrics on its admin PORT, or nothing.
cache_stats() {
	curl -s --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null | awk '
		/^gatehouse_cache_lookups_total/ {
			k = ($0 ~ /cache="records"/ ? "r" : "s") ($0 ~ /result="hit"/ ? "h" : "m"); v[k] = $NF; n++ }
		END { if (n) printf "%d %d %d %d\n", v["rh"], v["rm"], v["sh"], v["sm"] }' || true
}

# start_wrk runs wrk in the background against TARGET with CONNS
# connections for DUR, writing its output to FILE; the requests are those of
# REQ (default TARGET): the paired runs send bare-proxy the scenario's own
# requests. wrk runs in the background so that a signal interrupts the wait
# at once; wait_wrk waits for every wrk started. Requests with a method, body
# or credentials file use bench/wrk/request.lua, configured through the
# environment.
start_wrk() {
	local file=$1 target=$2 conns=$3 dur=$4 req=${5:-$2} args=() envs=() h secs state=
	while IFS= read -r h; do
		if [[ -n $h ]]; then args+=(-H "$h"); fi
	done <<<"${HEADERS[$req]}"
	# Every run uses request.lua: it prints the p99.9 wrk's --latency omits.
	args+=(-s "$ROOT/bench/wrk/request.lua")
	if [[ -n ${TOK_OF[$req]}${BODY_OF[$req]} || ${METHOD_OF[$req]} != GET ]]; then
		[[ $req != "$target" ]] || state=$TMP/res/position-$target
		envs=(BENCH_WRK_METHOD="${METHOD_OF[$req]}" BENCH_WRK_BODY="${BODY_OF[$req]}"
			BENCH_WRK_TOKENS="${TOK_OF[$req]}" BENCH_WRK_TOKEN_HEADER="${TOKH_OF[$req]}"
			BENCH_WRK_TOKEN_PREFIX="${TOKP_OF[$req]}" BENCH_WRK_THREADS="$THREADS"
			BENCH_WRK_STATE="$state")
	fi
	secs=$(to_seconds "$dur")
	# shellcheck disable=SC2086 # WRKF_OF holds separate flags
	env ${envs[@]+"${envs[@]}"} timeout $((secs + 90)) wrk -t"$THREADS" -c"$conns" -d"$dur" --latency ${WRKF_OF[$target]} \
		${args[@]+"${args[@]}"} "http://127.0.0.1:${PORT[$target]}${PATH_OF[$target]}" >"$file" 2>&1 &
	WRK_PIDS+=($!)
}

wait_wrk() {
	local pid
	for pid in ${WRK_PIDS[@]+"${WRK_PIDS[@]}"}; do
		wait "$pid" || die "wrk failed: $(cat "$TMP"/wrk*.out)"
	done
	WRK_PIDS=()
}

# parse_wrk reads wrk's output in FILE into W_RPS, W_REQS, W_P50, W_P99 and
# W_P999 (microseconds; p99.9 from bench/wrk/request.lua) and W_ERR (non-2xx
# responses plus socket errors).
parse_wrk() {
	local out non2xx sock p50 p99
	out=$(<"$1")
	W_P999=$(awk '$1 == "Latency" && $2 == "99.9%:" { print $3 + 0 }' <<<"$out")
	W_P999=${W_P999:-0}
	W_RPS=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	W_REQS=$(awk '/ requests in / { print $1 }' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	[[ -n $W_RPS && -n $W_REQS ]] || die "could not parse wrk output: $out"
	if [[ -z $p50 || -z $p99 ]]; then # no response completed: wrk prints no distribution
		p50=0us p99=0us
	fi
	W_P50=$(to_us "$p50") W_P99=$(to_us "$p99")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
	sock=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' <<<"$out")
	W_ERR=$((${non2xx:-0} + ${sock:-0}))
}

# cpu_per_req prints the CPU microseconds per request from a tick delta.
cpu_per_req() {
	awk -v d="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.2f", (n > 0 ? d * 1000000 / hz / n : 0) }'
}

# settle waits (bounded: 30s) until a process has nearly stopped using CPU
# (under 10% of a CPU over half a second): a gateway that queued more work
# than it could answer during a run (Express Gateway running bcrypt) would
# otherwise go on with it during the next target's run.
settle() {
	local pid=$1 i t0 t1 quiet
	quiet=$((CLK_TCK / 20))
	for ((i = 0; i < 60; i++)); do
		t0=$(cpu_ticks "$pid")
		sleep 0.5
		t1=$(cpu_ticks "$pid")
		((t1 - t0 > quiet)) || return 0
	done
	log "  pid $pid still busy after 30s"
}

# measure runs wrk against one target and appends "rps p50us p99us errors
# cpu_us_per_req p999us rss_peak_kB rss_median_kB hwm_kB" to
# $TMP/res/TARGET.tsv; the raw output goes to $TMP/raw.txt. cpu_us_per_req
# is the CPU time the target's own process used per request: it moves much
# less than req/s when other work competes for the CPUs. The RSS figures
# are those of the samples taken while wrk ran (rss_sampler), which also
# go to $TMP/res/rss-TARGET.samples for the median over every round.
measure() {
	local target=$1 dur=$2 record=$3 pid=${PID_OF[$1]} t0 t1 cpu samples=$TMP/rss.samples rss
	[[ $record == 0 ]] || dur=${DUR_OF[$target]}
	: >"$samples"
	[[ $record == 0 ]] || start_sampler "$samples" "$pid"
	t0=$(cpu_ticks "$pid")
	start_wrk "$TMP/wrk.out" "$target" "$CONNS" "$dur"
	wait_wrk
	t1=$(cpu_ticks "$pid")
	stop_sampler
	settle "$pid"
	[[ $record == 1 ]] || return 0
	printf '=== %s (round %s)\n%s\n\n' "$target" "$ROUND" "$(<"$TMP/wrk.out")" >>"$TMP/raw.txt"
	parse_wrk "$TMP/wrk.out"
	cpu=$(cpu_per_req $((t1 - t0)) "$W_REQS")
	cat "$samples" >>"$TMP/res/rss-$target.samples"
	read -r -a rss < <(rss_summary "$samples")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$W_RPS" "$W_P50" "$W_P99" "$W_ERR" "$cpu" "$W_P999" \
		"${rss[0]}" "${rss[1]}" "${rss[2]}" >>"$TMP/res/$target.tsv"
	log "  round $ROUND  $(printf '%-26s' "$target") $(printf '%10.0f' "$W_RPS") req/s  p50 $(fmt_ms "$W_P50")  p99 $(fmt_ms "$W_P99")  p99.9 $(fmt_ms "$W_P999")  cpu/req ${cpu}us  RSS $(fmt_mb "${rss[0]}") peak  errors $W_ERR"
}

# measure_paired loads bare-proxy and TARGET at the same time, half the
# connections each, so that both see the same machine (the same noise
# from other work), and appends "rps_bare rps_target cpu_bare cpu_target
# errors" to $TMP/res/paired-TARGET.tsv. bare-proxy gets the very requests
# TARGET gets (its Authorization header included, which it forwards), so
# that the ratio is the gateway's own work.
measure_paired() {
	local target=$1 half=$(((CONNS + 1) / 2)) bp=${PID_OF[bare-proxy]} tp=${PID_OF[$1]} dur=${DUR_OF[$1]}
	local b0 b1 g0 g1 rb rt cb ct errs
	b0=$(cpu_ticks "$bp") g0=$(cpu_ticks "$tp")
	start_wrk "$TMP/wrk-bare.out" bare-proxy "$half" "$dur" "$target"
	start_wrk "$TMP/wrk-target.out" "$target" "$half" "$dur"
	wait_wrk
	b1=$(cpu_ticks "$bp") g1=$(cpu_ticks "$tp")
	settle "$tp"
	printf '=== paired bare-proxy (round %s)\n%s\n\n=== paired %s (round %s)\n%s\n\n' "$ROUND" "$(<"$TMP/wrk-bare.out")" \
		"$target" "$ROUND" "$(<"$TMP/wrk-target.out")" >>"$TMP/raw.txt"
	parse_wrk "$TMP/wrk-bare.out"
	rb=$W_RPS cb=$(cpu_per_req $((b1 - b0)) "$W_REQS") errs=$W_ERR
	parse_wrk "$TMP/wrk-target.out"
	rt=$W_RPS ct=$(cpu_per_req $((g1 - g0)) "$W_REQS") errs=$((errs + W_ERR))
	printf '%s\t%s\t%s\t%s\t%s\n' "$rb" "$rt" "$cb" "$ct" "$errs" >>"$TMP/res/paired-$target.tsv"
	log "  round $ROUND  paired: bare-proxy $(printf '%.0f' "$rb") req/s ${cb}us/req, $target $(printf '%.0f' "$rt") req/s ${ct}us/req  errors $errs"
}

# measure_syscalls TARGET counts the system calls of TARGET's process (all
# its threads, and nginx's workers) during one wrk run of STRACE_DURATION
# and sets SYS_OF[TARGET] to "calls-per-request name:per-request...", the
# five most frequent calls. strace stops each thread at every call, so the
# target runs several times slower: the counts per request are what this
# measures, not its speed.
measure_syscalls() {
	local t=$1 pid=${PID_OF[$1]} c args=() spid out=$TMP/strace-$1.txt
	args=(-p "$pid")
	for c in $(pgrep -P "$pid" 2>/dev/null); do args+=(-p "$c"); done
	strace -c -S calls -f -qq -o "$out" "${args[@]}" 2>"$TMP/logs/strace-$t.log" &
	spid=$!
	PIDS+=("$spid")
	sleep 1 # attached to every thread before the load starts
	start_wrk "$TMP/wrk.out" "$t" "$CONNS" "$STRACE_DURATION"
	wait_wrk
	kill -INT "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	parse_wrk "$TMP/wrk.out"
	printf '=== %s (strace -c -f)\n%s\n\n%s\n\n' "$t" "$(<"$TMP/wrk.out")" "$(cat "$out" 2>/dev/null)" >>"$TMP/raw.txt"
	# strace -S calls sorts by calls; the columns are % time, seconds,
	# usecs/call, calls, [errors,] syscall.
	SYS_OF[$t]=$(awk -v n="$W_REQS" '
		$NF == "total" { total = $4 }
		$1 ~ /^[0-9.]+$/ && $NF != "total" && k < 5 { top = top sprintf(" %s:%.2f", $NF, $4 / n); k++ }
		END { if (n > 0 && total != "") printf "%.2f%s", total / n, top }' "$out")
	log "  $(printf '%-26s' "$t") ${SYS_OF[$t]:-?} system calls per request ($W_REQS requests)"
	settle "$pid"
}

# pick prints the chosen round of a target (req/s p50 p99 errors cpu p99.9):
# the best (highest req/s) or the median one. cpu/req is always the lowest
# of the rounds (the least disturbed).
pick() {
	local f="$TMP/res/$1.tsv" n
	n=$(wc -l <"$f")
	local cpu
	cpu=$(cut -f5 "$f" | awk '$1 > 0' | sort -g | head -n 1) # a round with no answer has no cpu/req
	cpu=${cpu:-0}
	case $PICK in
	best) sort -t$'\t' -k1,1gr "$f" | head -n 1 ;;
	median) sort -t$'\t' -k1,1g "$f" | sed -n "$(((n + 1) / 2))p" ;;
	esac | awk -F'\t' -v OFS='\t' -v cpu="$cpu" '{ print $1, $2, $3, $4, cpu, $6 }'
}

# paired_median prints "req/s-ratio cpu-ratio errors" of a target's median
# paired round (by req/s ratio; with an even number of rounds, the mean of
# the two middle ones), or nothing when it was not paired. errors is the
# sum over the rounds.
paired_median() {
	local f="$TMP/res/paired-$1.tsv"
	[[ -f $f ]] || return 0
	awk -F'\t' '$1 > 0 && $3 > 0 { printf "%.4f %.4f %d\n", $2 / $1, $4 / $3, $5 }' "$f" | sort -g | awk '
		{ r[NR] = $1; c[NR] = $2; e += $3 }
		END {
			if (NR == 0) exit
			lo = int((NR + 1) / 2); hi = int(NR / 2) + 1
			printf "%.4f %.4f %d\n", (r[lo] + r[hi]) / 2, (c[lo] + c[hi]) / 2, e }'
}

# start_target KIND TARGET DIR PORT starts gatehouse (nopgo: the -pgo=off
# build; logon: the access log on; BENCH_PROFILE: bench/profserve), Express Gateway, HAProxy or nginx
# on the config in DIR; STARTED is its pid. HAProxy and nginx stay in the
# foreground (-db, daemon off) so that the pid is theirs. Express Gateway runs under the same
# environment variables (EG_HTTP_PORT, EG_ADMIN_PORT, no config watch),
# with LOG_LEVEL=warn as gatehouse's --log-level warn and NODE_ENV=production.
start_target() {
	local kind=$1 target=$2 dir=$3 port=$4 bin=$TMP/bin/gatehouse
	[[ $kind == nopgo ]] && bin=$TMP/bin/gatehouse-nopgo
	if [[ $kind == gatehouse || $kind == nopgo || $kind == logon ]]; then
		# Each gateway runs its own copy of the binary: processes mapping
		# the same file share its pages, which RSS counts in each of them
		# and the kernel does not reclaim for one (MADV_PAGEOUT skips a
		# page another process maps), so the figure would not be a lone
		# gateway's, as in production (one per host or container).
		cp "$bin" "$TMP/bin/own-${target//:/-}"
		bin=$TMP/bin/own-${target//:/-}
	fi
	case $kind in
	gatehouse | nopgo)
		if [[ -n $PROFILE_DIR && $kind == gatehouse ]]; then
			# the same gateway, profiled (SC_FLAGS are serve's: not for it)
			start "$target" env EG_HTTP_PORT="$port" EG_ADMIN_PORT="$ADMIN_PORT" EG_DISABLE_CONFIG_WATCH=true \
				"$TMP/bin/profserve" -config-dir "$dir" \
				-cpuprofile "$PROFILE_DIR/cpu-${target#*:}.pprof" -memprofile "$PROFILE_DIR/allocs-${target#*:}.pprof"
			return
		fi
		start "$target" env EG_HTTP_PORT="$port" EG_ADMIN_PORT="$ADMIN_PORT" EG_DISABLE_CONFIG_WATCH=true \
			"$bin" serve --config-dir "$dir" \
			--access-log off --log-format json --log-level warn ${SC_FLAGS[@]+"${SC_FLAGS[@]}"}
		;;
	logon)
		# The default access log (JSON, every request, the default queue),
		# to a file as in production; a file path takes JSON unless
		# --log-format says otherwise.
		ACCESS_OF[$target]=$ACCESS_LOG_DIR/gatehouse-bench-access-${target#*:}.$$.log
		ACCESS_LOGS+=("${ACCESS_OF[$target]}")
		start "$target" env EG_HTTP_PORT="$port" EG_ADMIN_PORT="$ADMIN_PORT" EG_DISABLE_CONFIG_WATCH=true \
			"$bin" serve --config-dir "$dir" \
			--access-log "${ACCESS_OF[$target]}" --log-format json --log-level warn ${SC_FLAGS[@]+"${SC_FLAGS[@]}"}
		;;
	haproxy) start "$target" haproxy -db -f "$dir/haproxy.cfg" ;;
	nginx) start "$target" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' ;;
	eg)
		eg_system "$dir"
		start "$target" env -u GOGC EG_HTTP_PORT="$port" EG_ADMIN_PORT="$ADMIN_PORT" EG_DISABLE_CONFIG_WATCH=true \
			LOG_LEVEL=warn NODE_ENV=production BENCH_EG_DIR="$EG_DIR" node "$ROOT/bench/eg/server.js" "$dir"
		;;
	esac
}

# ---------------------------------------------------------------- BENCH_ISSUE

# issue_run TARGET: BENCH_ISSUE's measurement. wrk posts to TARGET's
# /oauth2/token for BENCH_ISSUE, in runs of BENCH_ISSUE_STEP (a minute)
# back to back (each run's req/s is that minute's tokens/s), while
# rss_sampler watches the process the whole time. Prints RSS before the load, each minute's
# tokens/s, RSS at its end and its peak, and the bound docs/operations.md
# gives for the memory store: base + 1.1 KB x issue rate x (lifetime + 1
# minute, the sweep).
issue_run() {
	local t=$1 pid=${PID_OF[$1]} total left d m=0 from to rss samples=$TMP/res/issue-rss.samples step
	local ttl base tsv=$TMP/res/issue.tsv rep=$TMP/report.txt issued=0 errs=0 stamp commit unit=minute
	total=$(to_seconds "$ISSUE") ttl=$(to_seconds "$ISSUE_TTL") step=$(to_seconds "$ISSUE_STEP") left=$total
	((step == 60)) || unit=step
	: >"$samples"
	start_sampler "$samples" "$pid"
	sleep 1
	read -r -a rss < <(rss_summary "$samples")
	base=${rss[3]}
	log "issuing: $t for ${total}s, token lifetime ${ttl}s, wrk -t$THREADS -c$CONNS, runs of up to ${step}s; RSS before the load $(fmt_mb "$base")"
	printf '%s\tseconds\ttokens_per_s\terrors\trss_end_kb\trss_peak_kb\tvmhwm_kb\n' "$unit" >"$tsv"
	while ((left > 0)); do
		d=$((left < step ? left : step)) m=$((m + 1)) left=$((left - d))
		from=${EPOCHREALTIME/./}
		start_wrk "$TMP/wrk.out" "$t" "$CONNS" "${d}s"
		wait_wrk
		to=${EPOCHREALTIME/./}
		printf '=== %s (%s %d)\n%s\n\n' "$t" "$unit" "$m" "$(<"$TMP/wrk.out")" >>"$TMP/raw.txt"
		parse_wrk "$TMP/wrk.out"
		issued=$((issued + W_REQS)) errs=$((errs + W_ERR))
		read -r -a rss < <(rss_summary "$samples" "$from" "$to")
		printf '%d\t%d\t%s\t%d\t%d\t%d\t%d\n' "$m" "$d" "$W_RPS" "$W_ERR" "${rss[3]}" "${rss[0]}" "${rss[2]}" >>"$tsv"
		log "  $unit $m  $(printf '%8.0f' "$W_RPS") tokens/s  RSS $(fmt_mb "${rss[3]}") (peak $(fmt_mb "${rss[0]}"))  errors $W_ERR"
	done
	sleep 1
	stop_sampler
	read -r -a rss < <(rss_summary "$samples")
	stamp=$(date -u +%Y%m%dT%H%M%SZ)
	commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	{
		echo "Gatehouse token-issuing run $stamp (commit $commit$([[ -z $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]] || echo ", uncommitted changes"))"
		echo "$(go version | cut -d' ' -f3-), $(nproc) CPUs, wrk -t$THREADS -c$CONNS, POST /oauth2/token client_credentials, opaque tokens,"
		echo "memory store (db.redis.emulate), token lifetime ${ttl}s, ${total}s${BENCH_GOGC:+, GOGC=$BENCH_GOGC}"
		echo
		printf '%-7s %8s %12s %10s %10s %7s\n' "$unit" seconds tokens/s "RSS end" "RSS peak" errors
		awk -F'\t' 'NR > 1 { printf "%-7s %8s %12.0f %10.1fMB %8.1fMB %7s\n", $1, $2, $3, $5 / 1024, $6 / 1024, $4 }' "$tsv"
		echo
		awk -F'\t' -v base="$base" -v pk="${rss[0]}" -v hwm="${rss[2]}" -v end="${rss[3]}" -v ttl="$ttl" -v n="$issued" -v secs="$total" -v unit="$unit" 'NR > 1 {
				r[++k] = $3; if (min == "" || $3 < min) min = $3 }
			END {
				rate = (secs > 0 ? n / secs : 0)
				printf "RSS: start %.1f MB (before the load), peak %.1f MB (VmHWM %.1f MB), end %.1f MB\n", base / 1024, pk / 1024, hwm / 1024, end / 1024
				printf "tokens: %d issued, %.0f/s over the run; last %s / first x%.2f, slowest / first x%.2f\n", n, rate, unit, (r[1] > 0 ? r[k] / r[1] : 0), (r[1] > 0 ? min / r[1] : 0)
				bound = base + 1.1 * rate * (ttl + 60)
				printf "bound (docs/operations.md): start + 1.1 KB x %.0f tokens/s x (%ds + 60s) = %.1f MB: peak %s\n", rate, ttl, bound / 1024,
					(pk <= bound ? "within it: ok" : "ABOVE it: ABOVE TARGET") }' "$tsv"
		if ((errs > 0)); then echo "WARNING: $errs errors or non-2xx responses"; fi
	} >"$rep"
	echo
	cat "$rep"
	cp "$rep" "$RESULTS_DIR/$stamp.issue.txt"
	cp "$rep" "$RESULTS_DIR/latest.txt"
	cp "$tsv" "$RESULTS_DIR/$stamp.issue.tsv"
	cp "$TMP/raw.txt" "$RESULTS_DIR/$stamp.issue.wrk.txt"
	log "results written to $RESULTS_DIR/$stamp.issue.{txt,tsv,wrk.txt} and latest.txt"
}

# ---------------------------------------------------------------- main

[[ $ROUNDS =~ ^[1-9][0-9]*$ && $ROUNDS -le 20 ]] || die "BENCH_ROUNDS must be 1..20"
[[ $PICK == best || $PICK == median ]] || die "BENCH_PICK must be best or median, not $PICK"
to_seconds "$DURATION" >/dev/null
mkdir -p "$TMP/bin" "$TMP/logs" "$TMP/res" "$KEYS" "$RESULTS_DIR"
ACCESS_LOG_DIR=${BENCH_ACCESS_LOG_DIR:-$TMP}
[[ -d $ACCESS_LOG_DIR && -w $ACCESS_LOG_DIR ]] || die "BENCH_ACCESS_LOG_DIR $ACCESS_LOG_DIR is not a writable folder"
ACCESS_LOG_DIR=$(cd "$ACCESS_LOG_DIR" && pwd)
[[ $RSS_TARGET =~ ^[0-9]+([.][0-9]+)?$ ]] || die "BENCH_RSS_TARGET must be a number of MB, not $RSS_TARGET"
[[ $P99_TARGET =~ ^[0-9]+([.][0-9]+)?$ ]] || die "BENCH_P99_TARGET must be a number, not $P99_TARGET"
[[ $LOG_TARGET =~ ^[0-9]+([.][0-9]+)?$ ]] || die "BENCH_LOG_TARGET must be a number, not $LOG_TARGET"
if [[ -n $ISSUE ]]; then
	to_seconds "$ISSUE" >/dev/null
	to_seconds "$ISSUE_TTL" >/dev/null
	(($(to_seconds "$ISSUE_STEP") > 0)) || die "BENCH_ISSUE_STEP must be at least 1s"
fi
CLK_TCK=$(getconf CLK_TCK)
command -v curl >/dev/null || die "curl is required"
command -v jq >/dev/null || die "jq is required"
command -v openssl >/dev/null || die "openssl is required"
if ! command -v wrk >/dev/null; then
	log "wrk not found: installing it with apt-get"
	SUDO=
	[[ $(id -u) == 0 ]] || SUDO=sudo
	$SUDO apt-get install -y wrk >/dev/null || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
	command -v wrk >/dev/null || die "could not install wrk"
fi

[[ $PGO == auto || $PGO == off ]] || die "BENCH_PGO must be off or unset, not $PGO"
if [[ -n $PROFILE_DIR ]]; then
	mkdir -p "$PROFILE_DIR"
	PROFILE_DIR=$(cd "$PROFILE_DIR" && pwd)
fi
log "building into $TMP/bin (gatehouse with -pgo=$PGO)"
(
	cd "$ROOT"
	# -pgo=auto is the go command's default: cmd/gatehouse/default.pgo
	go build -pgo="$PGO" -o "$TMP/bin/gatehouse" ./cmd/gatehouse
	if [[ " $SCENARIOS " == *" nopgo:"* ]]; then
		go build -pgo=off -o "$TMP/bin/gatehouse-nopgo" ./cmd/gatehouse
	fi
	if [[ -n $PROFILE_DIR ]]; then
		go build -pgo="$PGO" -o "$TMP/bin/profserve" ./bench/profserve
	fi
	go build -o "$TMP/bin/upstream" ./bench/upstream
	go build -o "$TMP/bin/bareproxy" ./bench/bareproxy
	go build -o "$TMP/bin/tokens" ./bench/tokens
)

if [[ -n ${BENCH_GOGC:-} ]]; then
	export GOGC=$BENCH_GOGC # the same for every Go server
fi

# Per target: port, request path, fixed headers, pid, and the settings of
# its scenario (credentials file, method, body, baseline, target, admin port).
declare -A PORT PATH_OF HEADERS PID_OF TOK_OF TOKH_OF TOKP_OF METHOD_OF BODY_OF WRKF_OF BASE_OF TGT_OF MIN_OF ADMIN_OF CACHE0 DUR_OF ACCESS_OF
TARGETS=(upstream bare-proxy)
SKIPPED=() # eg, haproxy and nginx targets that could not run, with the reason
for t in upstream bare-proxy; do
	PATH_OF[$t]=/bench/items HEADERS[$t]= TOK_OF[$t]= TOKH_OF[$t]= TOKP_OF[$t]= METHOD_OF[$t]=GET BODY_OF[$t]= WRKF_OF[$t]=
	BASE_OF[$t]=0 TGT_OF[$t]= MIN_OF[$t]= ADMIN_OF[$t]= DUR_OF[$t]=$DURATION
done
PORT[upstream]=$UPSTREAM_PORT PORT[bare-proxy]=$BARE_PORT

port_free "$UPSTREAM_PORT"
start upstream "$TMP/bin/upstream" -addr "127.0.0.1:$UPSTREAM_PORT"
PID_OF[upstream]=$STARTED
wait_status upstream "$STARTED" "$UPSTREAM_PORT" /bench/items 200 "$TMP/logs/upstream.log"
port_free "$BARE_PORT"
start bare-proxy "$TMP/bin/bareproxy" -addr "127.0.0.1:$BARE_PORT" -upstream "$BENCH_UPSTREAM"
PID_OF[bare-proxy]=$STARTED
wait_status bare-proxy "$STARTED" "$BARE_PORT" /bench/items 200 "$TMP/logs/bare-proxy.log"

i=0
for sc in $SCENARIOS; do
	kind=gatehouse name=$sc
	case $sc in
	eg:* | haproxy:* | nginx:* | nopgo:* | logon:*) kind=${sc%%:*} name=${sc#*:} ;;
	esac
	declare -F "scenario_$name" >/dev/null || die "unknown scenario $name (no function scenario_$name)"
	i=$((i + 1))
	((i <= 39)) || die "at most 39 scenarios per run"
	target="$kind:$name"
	port=$((PORT_BASE + 10 + i))
	ADMIN_PORT=$((PORT_BASE + 50 + i))
	dir="$TMP/config-$kind-$name"
	mkdir -p "$dir"
	if [[ $kind == eg ]]; then
		eg_install
		if [[ -z $EG_DIR ]]; then
			log "skipping $target: $EG_ERROR"
			SKIPPED+=("$target: $EG_ERROR")
			continue
		fi
	fi
	if [[ $kind == haproxy || $kind == nginx ]]; then
		peer_install "$kind"
		if [[ -n ${PEER_ERROR[$kind]} ]]; then
			log "skipping $target: ${PEER_ERROR[$kind]}"
			SKIPPED+=("$target: ${PEER_ERROR[$kind]}")
			continue
		fi
	fi
	log "setting up $target"
	reset_scenario
	SC_KIND=$kind
	[[ $kind == nopgo || $kind == logon ]] && SC_KIND=gatehouse # the same gateway, built without PGO or logging
	if [[ $kind == haproxy || $kind == nginx ]]; then
		"peer_$kind" "$name" "$dir" "$port"
		reason=$(peer_check "$kind" "$dir")
		if [[ -n $reason ]]; then
			[[ $reason != *jwt_verify* ]] || reason="this $(peer_version haproxy) has no jwt_verify converter (HAProxy 2.5+): $reason"
			log "skipping $target: $reason"
			SKIPPED+=("$target: $reason")
			continue
		fi
	else
		"scenario_$name" "$dir"
	fi
	[[ $kind == gatehouse ]] || SC_TARGET= SC_MIN_RPS= # the targets are gatehouse's (logon:'s is its ratio to log off)
	if [[ $kind == eg ]]; then
		# Express Gateway's p99 is around a second at 64 connections: don't
		# count slow answers as socket errors (wrk's default timeout is 2s).
		((${#SC_WRK_FLAGS[@]} > 0)) || SC_WRK_FLAGS=(--timeout 10s)
	fi
	port_free "$port"
	port_free "$ADMIN_PORT"
	start_target "$kind" "$target" "$dir" "$port"
	pid=$STARTED
	if [[ $kind == eg ]]; then
		# Express Gateway failing to start is reported, not fatal.
		if ! (wait_status "$target" "$pid" "$port" /__bench_listening__ 404 "$TMP/logs/$target.log"); then
			reason="Express Gateway did not start on node $(node --version): $(grep -m 3 -iE 'error|cannot|failed' "$TMP/logs/$target.log" | tr '\n' ' ')"
			log "skipping $target: $reason"
			SKIPPED+=("$target: $reason")
			stop "$pid"
			continue
		fi
	fi
	if [[ $SC_KIND != haproxy && $SC_KIND != nginx ]] && declare -F "scenario_${name}_ready" >/dev/null; then
		wait_status "$target" "$pid" "$port" /__bench_listening__ 404 "$TMP/logs/$target.log"
		"scenario_${name}_ready" "$dir" "$port"
	fi
	check=()
	[[ $SC_METHOD == GET ]] || check+=(-X "$SC_METHOD")
	[[ -z $SC_BODY ]] || check+=(-H "Content-Type: application/x-www-form-urlencoded" --data-binary "$SC_BODY")
	for h in ${SC_HEADERS[@]+"${SC_HEADERS[@]}"}; do check+=(-H "$h"); done
	if [[ -n $SC_TOKENS ]]; then
		# curl reads the credential from a file (-H @file): never on a command line
		printf '%s: %s%s\n' "$SC_TOKEN_HEADER" "$SC_TOKEN_PREFIX" "$(head -n 1 "$SC_TOKENS")" >"$dir/check-header"
		check+=(-H "@$dir/check-header")
	fi
	wait_status "$target" "$pid" "$port" "$SC_PATH" "$SC_EXPECT" "$TMP/logs/$target.log" ${check[@]+"${check[@]}"}
	TARGETS+=("$target")
	PORT[$target]=$port PATH_OF[$target]=$SC_PATH PID_OF[$target]=$pid
	HEADERS[$target]=$(printf '%s\n' ${SC_HEADERS[@]+"${SC_HEADERS[@]}"})
	TOK_OF[$target]=$SC_TOKENS TOKH_OF[$target]=$SC_TOKEN_HEADER TOKP_OF[$target]=$SC_TOKEN_PREFIX
	METHOD_OF[$target]=$SC_METHOD BODY_OF[$target]=$SC_BODY WRKF_OF[$target]=${SC_WRK_FLAGS[*]+"${SC_WRK_FLAGS[*]}"}
	BASE_OF[$target]=$SC_BASELINE TGT_OF[$target]=$SC_TARGET MIN_OF[$target]=$SC_MIN_RPS
	ADMIN_OF[$target]=$ADMIN_PORT DUR_OF[$target]=${SC_DURATION:-$DURATION}
	to_seconds "${DUR_OF[$target]}" >/dev/null
	[[ $SC_KIND == gatehouse ]] && CACHE0[$target]=$(cache_stats "$ADMIN_PORT")
	if [[ -n $SC_TOKENS ]]; then
		log "  $target ready: $(awk 'END { print NR }' "$SC_TOKENS") distinct credential(s)"
	fi
done

if [[ -n $ISSUE ]]; then
	issue_run gatehouse:token-issue
	exit 0
fi

log "wrk -t$THREADS -c$CONNS -d$DURATION --latency; $ROUNDS round(s), warm-up $WARMUP; $(nproc) CPUs"
if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
	ROUND=warmup
	for t in "${TARGETS[@]}"; do
		if [[ $t == eg:* ]]; then
			measure "$t" "$EG_WARMUP" 0 # V8 compiles the hot paths first
		else
			measure "$t" "$WARMUP" 0
		fi
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
			if [[ ${BASE_OF[$t]} == 1 ]]; then measure_paired "$t"; fi
		done
	done
fi

declare -A SYS_OF # target: "calls/req top-syscalls" from strace -c
if [[ $STRACE == 1 ]]; then
	command -v strace >/dev/null || die "BENCH_STRACE=1 needs strace (apt-get install -y strace)"
	log "strace -c -f: each target's system calls during one $STRACE_DURATION wrk run"
	for t in "${TARGETS[@]}"; do
		measure_syscalls "$t"
	done
fi

# ---------------------------------------------------------------- report

declare -A RPS P50 P99 P999 ERR CPU PR PC RSSPK RSSMED RSSHWM
for t in "${TARGETS[@]}"; do
	IFS=$'\t' read -r "RPS[$t]" "P50[$t]" "P99[$t]" "ERR[$t]" "CPU[$t]" "P999[$t]" < <(pick "$t")
	# RSS: the highest sample of every measured round, the median of all
	# of them, and VmHWM (the peak since the process started, setup included)
	read -r "RSSPK[$t]" "RSSMED[$t]" "RSSHWM[$t]" _ < <(rss_summary "$TMP/res/rss-$t.samples")
	PR[$t]= PC[$t]=
	if [[ ${BASE_OF[$t]} == 1 ]]; then
		read -r "PR[$t]" "PC[$t]" _ < <(paired_median "$t"; echo) || true
	fi
done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1 || true)

# verdict NAME HOW VALUE MIN: "ok" or "BELOW TARGET".
verdict() {
	if awk -v x="$3" -v m="$4" 'BEGIN { exit !(x >= m) }'; then
		echo "$1: $2 $3 >= target $4: ok"
	else
		echo "$1: $2 $3 < target $4: BELOW TARGET"
	fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else printf "-" }'; }

# ratio_line T BASE: T's req/s, p50, p99, p99.9, cpu/req and RSS (peak and
# median under load) over BASE's.
ratio_line() {
	awk -v t="$1" -v b="$2" -v r="${RPS[$1]}" -v rb="${RPS[$2]}" \
		-v p="${P50[$1]}" -v pb="${P50[$2]}" -v q="${P99[$1]}" -v qb="${P99[$2]}" -v z="${P999[$1]}" -v zb="${P999[$2]}" \
		-v c="${CPU[$1]}" -v cb="${CPU[$2]}" -v m="${RSSPK[$1]}" -v mb="${RSSPK[$2]}" -v d="${RSSMED[$1]}" -v db="${RSSMED[$2]}" 'BEGIN {
		printf "%-38s req/s x%.2f    p50 x%.2f   p99 x%.2f   p99.9 x%.2f   cpu/req x%.2f   RSS peak x%.2f   median x%.2f\n", t " / " b, (rb > 0 ? r / rb : 0),
			(pb > 0 ? p / pb : 0), (qb > 0 ? q / qb : 0), (zb > 0 ? z / zb : 0), (cb > 0 ? c / cb : 0), (mb > 0 ? m / mb : 0), (db > 0 ? d / db : 0) }'
}

# verdict_max NAME HOW VALUE MAX: "ok" or "ABOVE TARGET" (a miss for
# BENCH_STRICT, as BELOW TARGET is).
verdict_max() {
	if awk -v x="$3" -v m="$4" 'BEGIN { exit !(x <= m) }'; then
		echo "$1: $2 $3 <= target $4: ok"
	else
		echo "$1: $2 $3 > target $4: ABOVE TARGET"
	fi
}

# haproxy_ref T prints the HAProxy target T's latency is compared with: the
# same scenario's, else haproxy:proxy (marked: a plain proxy, a floor for
# the scenarios HAProxy has no equivalent of), else nothing.
haproxy_ref() {
	if [[ -n ${RPS[haproxy:${1#*:}]:-} ]]; then
		echo "haproxy:${1#*:}"
	elif [[ -n ${RPS[haproxy:proxy]:-} ]]; then
		echo "haproxy:proxy*"
	fi
}

# tail_report: p50, p99, p99.9 of every target, their ratios to HAProxy's
# and the p99 target (issue #14: gatehouse's p99 at most 1.5x HAProxy's in
# the same run).
tail_report() {
	local t ref r qb zb
	echo "Tail latency (the round shown; p99.9 from bench/wrk/request.lua; vs HAP: over HAProxy's, same scenario, * haproxy:proxy):"
	printf '  %-28s %10s %10s %10s %8s %8s %8s %-16s\n' target p50 p99 p99.9 p99/p50 "p99 HAP" "p999 HAP" "compared with"
	for t in "${TARGETS[@]}"; do
		ref=$(haproxy_ref "$t") r=${ref%\*} qb=0 zb=0
		# without a HAProxy run (make pgo) there is no reference: an empty
		# subscript is an error in bash.
		if [[ -n $r ]]; then qb=${P99[$r]:-0} zb=${P999[$r]:-0}; fi
		awk -v t="$t" -v p="${P50[$t]}" -v q="${P99[$t]}" -v z="${P999[$t]}" -v qb="$qb" -v zb="$zb" -v ref="${ref:--}" \
			-v self="$([[ $r == "$t" ]] && echo 1)" 'BEGIN {
			printf "  %-28s %8.2fms %8.2fms %8.2fms %8s %8s %8s %-16s\n", t, p / 1000, q / 1000, z / 1000, (p > 0 ? sprintf("x%.1f", q / p) : "-"),
				(!self && qb > 0 ? sprintf("x%.2f", q / qb) : "-"), (!self && zb > 0 ? sprintf("x%.2f", z / zb) : "-"), (self ? "-" : ref) }'
	done
	for t in "${TARGETS[@]}"; do
		[[ $t == gatehouse:* || $t == logon:* || $t == nopgo:* ]] || continue
		ref=$(haproxy_ref "$t")
		[[ -n $ref && $ref != *\* && ${P99[$ref]} -gt 0 ]] || continue
		verdict_max "  $t" "p99 / $ref's" "$(awk -v a="${P99[$t]}" -v b="${P99[$ref]}" 'BEGIN { printf "%.2f", a / b }')" "$P99_TARGET"
	done
	echo
}

# logon_report T: the access log's cost (logon:NAME over gatehouse:NAME, log
# off), sequential and as the ratio of the paired ratios, against
# BENCH_LOG_TARGET, and what the log wrote and dropped: a log that dropped
# lines did less work than its figures suggest.
logon_report() {
	local t=$1 off=gatehouse:${1#*:} lines size dropped
	if [[ -n ${RPS[$off]:-} ]]; then
		verdict "$t" "log on / log off sequential req/s" "$(awk -v a="${RPS[$t]}" -v b="${RPS[$off]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')" "$LOG_TARGET"
		if [[ -n ${PR[$t]} && -n ${PR[$off]:-} ]]; then
			printf '%-38s req/s x%.3f   cpu/req x%.3f   (ratio of the paired ratios to bare-proxy)\n' "$t / $off" \
				"$(awk -v a="${PR[$t]}" -v b="${PR[$off]}" 'BEGIN { print a / b }')" \
				"$(awk -v a="${PC[$t]}" -v b="${PC[$off]}" 'BEGIN { print a / b }')"
			verdict "$t" "log on / log off paired req/s" "$(awk -v a="${PR[$t]}" -v b="${PR[$off]}" 'BEGIN { printf "%.3f", a / b }')" "$LOG_TARGET"
		fi
	fi
	lines=$(wc -l <"${ACCESS_OF[$t]}" 2>/dev/null || echo 0)
	size=$(stat -c %s "${ACCESS_OF[$t]}" 2>/dev/null || echo 0)
	dropped=$(curl -s --max-time 2 "http://127.0.0.1:${ADMIN_OF[$t]}/metrics" 2>/dev/null | awk '/^gatehouse_access_log_dropped_total/ { print $NF }')
	printf '  access log: %s, %d lines (%s, %.0f bytes a line), %s dropped over the whole run\n' "${ACCESS_OF[$t]}" "$lines" \
		"$(fmt_mb $((size / 1024)))" "$(awk -v s="$size" -v n="$lines" 'BEGIN { print (n > 0 ? s / n : 0) }')" "${dropped:-?}"
}

report() {
	local t base errs eg pr pe cs c0 c1
	echo "Gatehouse benchmark $stamp (commit $commit${dirty:+, uncommitted changes})"
	echo "$(go version | cut -d' ' -f3-), $(nproc) CPUs, wrk -t$THREADS -c$CONNS -d$DURATION --latency, $ROUNDS round(s), $PICK round shown${BENCH_GOGC:+, GOGC=$BENCH_GOGC}"
	if [[ -n $EG_DIR ]]; then echo "Express Gateway $(node -p "require('$EG_DIR/node_modules/express-gateway/package.json').version") on node $(node --version)"; fi
	local k peers=()
	for k in haproxy nginx; do
		[[ " ${TARGETS[*]} " != *" $k:"* ]] || peers+=("$(peer_version "$k")")
	done
	if ((${#peers[@]} > 0)); then echo "peers: ${peers[*]}"; fi
	echo
	printf '%-28s %9s %9s %9s %9s %10s %8s %8s %9s %9s %8s %9s %9s %7s %7s %6s\n' target req/s p50 p99 p99.9 cpu/req "RSS pk" "RSS med" "vs bare" "paired" "cpu x" "vs EG" "EG pair" "vs HAP" "vs ngx" errors
	for t in "${TARGETS[@]}"; do
		local vb=- vp=- vc=- ve=- vep=- vh=- vn=- peer
		if [[ ${BASE_OF[$t]} == 1 ]]; then
			vb=$(ratio "${RPS[$t]}" "${RPS[bare-proxy]}")
			[[ -z ${PR[$t]} ]] || vp=$(awk -v x="${PR[$t]}" 'BEGIN { printf "%.1f%%", 100 * x }')
			[[ -z ${PC[$t]} ]] || vc=$(awk -v x="${PC[$t]}" 'BEGIN { printf "x%.2f", x }')
		fi
		eg=eg:${t#gatehouse:}
		if [[ $t == gatehouse:* && -n ${RPS[$eg]:-} ]]; then
			ve=$(awk -v a="${RPS[$t]}" -v b="${RPS[$eg]}" 'BEGIN { if (b > 0) printf "x%.1f", a / b; else printf "-" }')
			if [[ -n ${PR[$t]} && -n ${PR[$eg]} ]]; then
				vep=$(awk -v a="${PR[$t]}" -v b="${PR[$eg]}" 'BEGIN { if (b > 0) printf "x%.1f", a / b; else printf "-" }')
			fi
		fi
		if [[ $t == gatehouse:* || $t == nopgo:* || $t == logon:* ]]; then
			peer=haproxy:${t#*:}
			[[ -z ${RPS[$peer]:-} ]] || vh=$(awk -v a="${RPS[$t]}" -v b="${RPS[$peer]}" 'BEGIN { if (b > 0) printf "x%.2f", a / b; else printf "-" }')
			peer=nginx:${t#*:}
			[[ -z ${RPS[$peer]:-} ]] || vn=$(awk -v a="${RPS[$t]}" -v b="${RPS[$peer]}" 'BEGIN { if (b > 0) printf "x%.2f", a / b; else printf "-" }')
		fi
		printf '%-28s %9.0f %9s %9s %9s %8.1fus %8s %8s %9s %9s %8s %9s %9s %7s %7s %6s\n' "$t" "${RPS[$t]}" "$(fmt_ms "${P50[$t]}")" "$(fmt_ms "${P99[$t]}")" \
			"$(fmt_ms "${P999[$t]}")" "${CPU[$t]}" "$(fmt_mb "${RSSPK[$t]}")" "$(fmt_mb "${RSSMED[$t]}")" "$vb" "$vp" "$vc" "$ve" "$vep" "$vh" "$vn" "${ERR[$t]}"
	done
	echo
	echo "vs bare: req/s / bare-proxy's, sequential runs (bare-proxy gets plain GETs); paired: both loaded at once, bare-proxy getting the"
	echo "scenario's own requests (same credential headers), median round;"
	echo "cpu x: cpu/req / bare-proxy's in the paired runs; vs EG: req/s / Express Gateway's (sequential); EG pair: paired ratio / EG's paired ratio;"
	echo "vs HAP, vs ngx: req/s / HAProxy's, nginx's for the same scenario (sequential); p99.9 from bench/wrk/request.lua's done();"
	echo "RSS pk, RSS med: the highest and the median VmRSS sample (every 200 ms while wrk ran, every round; nginx: master and workers summed)."
	echo
	tail_report
	for t in "${TARGETS[@]}"; do
		[[ $t == gatehouse:* || $t == eg:* || $t == nopgo:* || $t == logon:* || $t == haproxy:* || $t == nginx:* ]] || continue
		if [[ ${BASE_OF[$t]} == 1 ]]; then
			for base in bare-proxy upstream; do
				awk -v t="$t" -v b="$base" -v r="${RPS[$t]}" -v rb="${RPS[$base]}" \
					-v p="${P50[$t]}" -v pb="${P50[$base]}" -v q="${P99[$t]}" -v qb="${P99[$base]}" \
					-v c="${CPU[$t]}" -v cb="${CPU[$base]}" -v m="${RSSPK[$t]}" -v mb="${RSSPK[$base]}" 'BEGIN {
					printf "%-38s req/s %6.1f%%   p50 x%.2f   p99 x%.2f   cpu/req x%.2f   RSS peak x%.2f\n", t " / " b, 100 * r / rb, (pb > 0 ? p / pb : 0), (qb > 0 ? q / qb : 0), (cb > 0 ? c / cb : 0), (mb > 0 ? m / mb : 0) }'
			done
			if [[ -n ${PR[$t]} ]]; then
				errs=$(paired_median "$t" | awk '{ print $3 }')
				printf '%-38s req/s %6.1f%%   cpu/req x%.2f   (paired: loaded at once, median of %d rounds%s)\n' \
					"$t / bare-proxy" "$(awk -v x="${PR[$t]}" 'BEGIN { print 100 * x }')" "${PC[$t]}" "$ROUNDS" \
					"$([[ $errs == 0 ]] || echo ", $errs ERRORS")"
			fi
			eg=eg:${t#gatehouse:}
			if [[ $t == gatehouse:* && -n ${RPS[$eg]:-} ]]; then
				awk -v t="$t" -v b="$eg" -v r="${RPS[$t]}" -v rb="${RPS[$eg]}" \
					-v p="${P50[$t]}" -v pb="${P50[$eg]}" -v q="${P99[$t]}" -v qb="${P99[$eg]}" \
					-v c="${CPU[$t]}" -v cb="${CPU[$eg]}" 'BEGIN {
					printf "%-38s req/s x%.1f     p50 x%.2f   p99 x%.2f   cpu/req x%.2f\n", t " / " b, (rb > 0 ? r / rb : 0), (pb > 0 ? p / pb : 0), (qb > 0 ? q / qb : 0), (cb > 0 ? c / cb : 0) }'
			fi
			if [[ $t == gatehouse:* || $t == nopgo:* || $t == logon:* ]]; then
				for base in "haproxy:${t#*:}" "nginx:${t#*:}" "nopgo:${t#*:}" "gatehouse:${t#*:}"; do
					[[ -n ${RPS[$base]:-} && $base != "$t" ]] || continue
					[[ $t == logon:* || $base != gatehouse:* ]] || continue # logon: compares with log off
					ratio_line "$t" "$base"
				done
				if [[ $t == logon:* ]]; then logon_report "$t"; fi
				if [[ $t == gatehouse:* && -n ${PR[$t]} && -n ${PR[nopgo:${t#*:}]:-} ]]; then
					printf '%-38s req/s x%.3f   cpu/req x%.3f   (ratio of the paired ratios to bare-proxy)\n' "$t / nopgo:${t#*:}" \
						"$(awk -v a="${PR[$t]}" -v b="${PR[nopgo:${t#*:}]}" 'BEGIN { print a / b }')" \
						"$(awk -v a="${PC[$t]}" -v b="${PC[nopgo:${t#*:}]}" 'BEGIN { print a / b }')"
				fi
			fi
			if [[ -n ${TGT_OF[$t]} ]]; then
				verdict "$t" "sequential req/s ratio" "$(awk -v r="${RPS[$t]}" -v rb="${RPS[bare-proxy]}" 'BEGIN { printf "%.3f", r / rb }')" "${TGT_OF[$t]}"
				[[ -z ${PR[$t]} ]] || verdict "$t" "paired req/s ratio" "$(printf '%.3f' "${PR[$t]}")" "${TGT_OF[$t]}"
			fi
		elif [[ -n ${MIN_OF[$t]} ]]; then
			verdict "$t" "req/s" "$(printf '%.0f' "${RPS[$t]}")" "${MIN_OF[$t]}"
		fi
		# issue #14: RSS under sustained load, repeated-token scenarios
		if [[ ($t == gatehouse:* || $t == logon:*) && ${BASE_OF[$t]} == 1 && $t != *-cold ]]; then
			verdict_max "$t" "peak RSS under load, MB," "$(awk -v k="${RSSPK[$t]}" 'BEGIN { printf "%.1f", k / 1024 }')" "$RSS_TARGET"
		fi
		c0=${CACHE0[$t]:-}
		if [[ -n $c0 ]]; then
			c1=$(cache_stats "${ADMIN_OF[$t]}")
			if [[ -n $c1 ]]; then
				read -r -a a0 <<<"$c0"
				read -r -a a1 <<<"$c1"
				awk -v rh=$((a1[0] - a0[0])) -v rm=$((a1[1] - a0[1])) -v sh=$((a1[2] - a0[2])) -v sm=$((a1[3] - a0[3])) 'BEGIN {
					if (rh + rm + sh + sm > 0)
						printf "  store caches during the runs: records %d hits, %d misses; verified secrets %d hits, %d misses\n", rh, rm, sh, sm }'
			fi
		fi
		echo
	done
	if [[ -n $AUX_PID ]]; then
		echo "bench/tokens serve answered: $(curl -s --max-time 2 "http://127.0.0.1:$AUX_PORT/stats" | tr '\n' ' ')(JWKS fetches and introspection calls over the whole run)"
		echo
	fi
	if ((${#SKIPPED[@]} > 0)); then
		echo "NOT MEASURED:"
		printf '  %s\n' "${SKIPPED[@]}"
		if [[ " ${SKIPPED[*]}" == *" eg:"* ]]; then
			echo "  Express Gateway 1.16.11 measured elsewhere on a similar 2-core machine (docs: /work/shared/spec/express-gateway-observed.md),"
			echo "  not here: ~1.9k req/s plain proxy, 1.0k jwt HS256, 1.3k jwt RS256, 1.75k key-auth, 1.9k oauth2, 6-9 basic-auth."
		fi
		echo
	fi
	if [[ $STRACE == 1 ]]; then
		echo "System calls per request (strace -c -f, one $STRACE_DURATION run each, the target slowed by strace; the five most frequent):"
		for t in "${TARGETS[@]}"; do
			[[ -z ${SYS_OF[$t]:-} ]] || printf '  %-28s %s\n' "$t" "${SYS_OF[$t]}"
		done
		echo
	fi
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
	printf 'target\tround\treq_per_s\tp50_us\tp99_us\terrors\tcpu_us_per_req\tp999_us\trss_peak_kb\trss_median_kb\tvmhwm_kb\n'
	for t in "${TARGETS[@]}"; do
		awk -v t="$t" -F'\t' -v OFS='\t' '{ print t, NR, $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$TMP/res/$t.tsv"
	done
	for t in "${TARGETS[@]}"; do
		[[ -f $TMP/res/paired-$t.tsv ]] || continue
		awk -v t="$t" -F'\t' -v OFS='\t' '{ print "paired:bare-proxy", NR, $1, "", "", $5, $3, "", "", "", ""; print "paired:" t, NR, $2, "", "", $5, $4, "", "", "", "" }' \
			"$TMP/res/paired-$t.tsv"
	done
} >"$RESULTS_DIR/$stamp.tsv"
log "results written to $RESULTS_DIR/$stamp.{txt,tsv,wrk.txt} and latest.txt"
if grep -qE 'BELOW TARGET|ABOVE TARGET' "$TMP/report.txt" && [[ $STRICT == 1 ]]; then
	exit 1
fi
