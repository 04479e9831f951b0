#!/usr/bin/env bash
# bench/eg/setup.sh: installs Express Gateway (npm, express-gateway@1.16.11
# by default) into a folder outside the repository, once; bench/run.sh calls
# it for the eg:NAME targets.
#
# Usage: bash bench/eg/setup.sh [DIR]   (default: $BENCH_EG_DIR, else
#        ${XDG_CACHE_HOME:-~/.cache}/gatehouse-bench/express-gateway-VERSION)
# Prints the install folder on stdout. Settings: BENCH_EG_VERSION.
# Exit status 1, with npm's last lines on stderr, when the install fails.
set -euo pipefail

VERSION=${BENCH_EG_VERSION:-1.16.11}
DIR=${1:-${BENCH_EG_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse-bench/express-gateway-$VERSION}}

log() { printf '[bench/eg] %s\n' "$*" >&2; }

command -v node >/dev/null || { log "node is required"; exit 1; }
command -v npm >/dev/null || { log "npm is required"; exit 1; }

pkg="$DIR/node_modules/express-gateway/package.json"
if [[ -f $pkg ]] && [[ $(node -p "require('$pkg').version" 2>/dev/null) == "$VERSION" ]]; then
	echo "$DIR"
	exit 0
fi

mkdir -p "$DIR"
log "installing express-gateway@$VERSION into $DIR with npm (node $(node --version))"
(
	cd "$DIR"
	[[ -f package.json ]] || printf '{"name":"eg-bench","private":true}\n' >package.json
	if ! npm install --no-audit --no-fund --loglevel=error "express-gateway@$VERSION" >npm-install.log 2>&1; then
		tail -n 30 npm-install.log >&2
		log "npm install express-gateway@$VERSION failed (full log: $DIR/npm-install.log)"
		exit 1
	fi
)
[[ -f $pkg ]] || { log "express-gateway is missing after npm install"; exit 1; }
echo "$DIR"
