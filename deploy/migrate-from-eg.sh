#!/usr/bin/env bash
# Copy identity data from Express Gateway's Admin API to Gatehouse's.
#
#   EG_ADMIN_URL=http://localhost:9876 \
#   GATEHOUSE_ADMIN_URL=http://localhost:19876 GATEHOUSE_ADMIN_KEY=... \
#   bash deploy/migrate-from-eg.sh
#
# What it copies (docs/migrating-from-express-gateway.md, "Moving data"):
#   scopes; users and applications with their properties and status (new ids:
#   Gatehouse generates them); key-auth and jwt credentials with their keyId,
#   keySecret, scopes and status (clients keep their keys).
# What it cannot copy: basic-auth passwords and oauth2 client secrets (Express
#   Gateway's Admin API never returns them, only a bcrypt hash kept in Redis,
#   and Gatehouse's Admin API takes a secret, not a hash). With
#   NEW_SECRETS=generate (the default) it creates those credentials with new
#   generated secrets, written to $OUT/new-secrets.tsv (mode 0600) for you to
#   hand out; with NEW_SECRETS=skip it leaves them out. Access and refresh
#   tokens, authorization codes and sessions are not copied: clients get new
#   tokens.
#
# Output in $OUT (default ./eg-migration): the export (eg-*.json), id-map.tsv
# (kind, old id, new id, name), new-secrets.tsv, errors.log. Exit status 1 when
# anything failed; run it against an empty Gatehouse store.
#
# Needs bash, curl and jq. Only GET requests are sent to Express Gateway.
set -euo pipefail

EG=${EG_ADMIN_URL:-http://localhost:9876}
GH=${GATEHOUSE_ADMIN_URL:?set GATEHOUSE_ADMIN_URL to Gatehouse\'s Admin API, e.g. http://localhost:19876}
OUT=${OUT:-eg-migration}
NEW_SECRETS=${NEW_SECRETS:-generate}
EG=${EG%/}
GH=${GH%/}

case $NEW_SECRETS in generate | skip) ;; *)
  echo "NEW_SECRETS must be generate or skip" >&2
  exit 2
  ;;
esac
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

umask 077
mkdir -p "$OUT"
: >"$OUT/errors.log"
printf 'kind\told_id\tnew_id\tname\n' >"$OUT/id-map.tsv"
printf 'consumer\ttype\tid\tsecret\n' >"$OUT/new-secrets.tsv"

# Headers go through files, never the command line (ps shows arguments).
hdr=$(mktemp)
trap 'rm -f "$hdr"' EXIT
echo 'Content-Type: application/json' >"$hdr"
if [ -n "${GATEHOUSE_ADMIN_KEY:-}" ]; then
  printf 'Authorization: Bearer %s\n' "$GATEHOUSE_ADMIN_KEY" >>"$hdr"
fi
eg_hdr=()
if [ -n "${EG_ADMIN_HEADER:-}" ]; then # e.g. the header a proxy in front of EG's Admin API wants
  eg_hdr=(-H "$EG_ADMIN_HEADER")
fi

# fail records an error; it often runs in a $(...) subshell, so errors are
# counted from errors.log at the end.
fail() {
  echo "$*" >>"$OUT/errors.log"
  echo "error: $*" >&2
}

# eg GET path: Express Gateway's answer on stdout; fails on a non-2xx status.
eg() {
  curl -sS -f ${eg_hdr[@]+"${eg_hdr[@]}"} "$EG$1"
}

# gh METHOD path: sends stdin as the body; prints the answer, then the
# status on a line of its own.
gh() {
  curl -sS -X "$1" -H @"$hdr" --data-binary @- -w '\n%{http_code}' "$GH$2"
}

# call METHOD path what: gh with stdin; the answer on stdout when 2xx,
# otherwise an error is recorded and the function fails.
call() {
  local res status
  res=$(gh "$1" "$2") || { fail "$3: cannot reach $GH"; return 1; }
  status=${res##*$'\n'}
  res=${res%$'\n'*}
  if [ "${status:0:1}" != 2 ]; then
    fail "$3: $1 $2: $status $res"
    return 1
  fi
  printf '%s' "$res"
}

# Paged lists (GET /users, /apps): follow nextKey; Redis SCAN may repeat an
# item, so keep each id once.
list() {
  local kind=$1 start=0 page all='[]'
  while :; do
    page=$(eg "/$kind?start=$start&count=100")
    all=$(jq -c --argjson all "$all" --arg k "$kind" '$all + (.[$k] // [])' <<<"$page")
    start=$(jq -r '.nextKey // 0' <<<"$page")
    [ "$start" = 0 ] && break
  done
  jq -c 'unique_by(.id)' <<<"$all"
}

echo "== export from $EG"
eg /scopes >"$OUT/eg-scopes.json"
list users >"$OUT/eg-users.json"
list apps >"$OUT/eg-apps.json"
echo '{}' >"$OUT/eg-credentials.json"
for id in $(jq -r '.[].id' "$OUT/eg-users.json" "$OUT/eg-apps.json"); do
  creds=$(eg "/credentials/$id" | jq -c '.credentials // []')
  jq -c --arg id "$id" --argjson c "$creds" '. + {($id): $c}' "$OUT/eg-credentials.json" >"$OUT/eg-credentials.json.tmp"
  mv "$OUT/eg-credentials.json.tmp" "$OUT/eg-credentials.json"
done
echo "   $(jq length "$OUT/eg-users.json") users, $(jq length "$OUT/eg-apps.json") applications," \
  "$(jq '[.[] | length] | add // 0' "$OUT/eg-credentials.json") credentials, $(jq '.scopes // [] | length' "$OUT/eg-scopes.json") scopes"

echo "== import into $GH"
# Express Gateway keeps every value as a string; "true"/"false" are booleans.
active() { jq -e '.isActive == true or .isActive == "true"' >/dev/null; }

if [ "$(jq '.scopes // [] | length' "$OUT/eg-scopes.json")" != 0 ]; then
  call POST /scopes "scopes" <<<"$(jq -c '{scopes: .scopes}' "$OUT/eg-scopes.json")" >/dev/null || true
fi

declare -A newid username
inactive_users=() inactive_apps=()

while read -r u; do
  old=$(jq -r .id <<<"$u")
  name=$(jq -r .username <<<"$u")
  body=$(jq -c 'del(.id, .isActive, .createdAt, .updatedAt) | with_entries(select(.value != null and .value != ""))' <<<"$u")
  if res=$(call POST /users "user $name" <<<"$body"); then
    newid[$old]=$(jq -r .id <<<"$res")
    username[$old]=$name
    printf 'user\t%s\t%s\t%s\n' "$old" "${newid[$old]}" "$name" >>"$OUT/id-map.tsv"
    active <<<"$u" || inactive_users+=("${newid[$old]}")
  fi
done < <(jq -c '.[]' "$OUT/eg-users.json")

while read -r a; do
  old=$(jq -r .id <<<"$a")
  owner=$(jq -r .userId <<<"$a")
  name=$(jq -r .name <<<"$a")
  if [ -z "${username[$owner]:-}" ]; then
    fail "application $name ($old): its user $owner was not imported"
    continue
  fi
  body=$(jq -c --arg u "${username[$owner]}" 'del(.id, .isActive, .createdAt, .updatedAt) | .userId = $u | with_entries(select(.value != null and .value != ""))' <<<"$a")
  if res=$(call POST /apps "application $name" <<<"$body"); then
    newid[$old]=$(jq -r .id <<<"$res")
    printf 'app\t%s\t%s\t%s\n' "$old" "${newid[$old]}" "$name" >>"$OUT/id-map.tsv"
    active <<<"$a" || inactive_apps+=("${newid[$old]}")
  fi
done < <(jq -c '.[]' "$OUT/eg-apps.json")

inactive_creds=()
while read -r entry; do
  old=$(jq -r .key <<<"$entry")
  consumer=${newid[$old]:-}
  [ -z "$consumer" ] && continue # its user or application failed above
  while read -r c; do
    type=$(jq -r .type <<<"$c")
    scopes=$(jq -c '.scopes | if . == null or . == "null" then [] elif type == "string" then (fromjson? // [.]) else . end' <<<"$c")
    case $type in
    key-auth | jwt)
      body=$(jq -c --arg id "$consumer" --arg t "$type" --argjson s "$scopes" \
        '{consumerId: $id, type: $t, credential: {keyId: .keyId, keySecret: .keySecret, scopes: $s}}' <<<"$c")
      if res=$(call POST /credentials "$type credential $(jq -r .keyId <<<"$c") of $old" <<<"$body"); then
        active <<<"$c" || inactive_creds+=("$type/$(jq -r .id <<<"$res")")
      fi
      ;;
    basic-auth | oauth2)
      [ "$NEW_SECRETS" = skip ] && continue
      body=$(jq -cn --arg id "$consumer" --arg t "$type" --argjson s "$scopes" '{consumerId: $id, type: $t, credential: {scopes: $s}}')
      if res=$(call POST /credentials "$type credential of $old" <<<"$body"); then
        field=password
        [ "$type" = oauth2 ] && field=secret
        printf '%s\t%s\t%s\t%s\n' "$consumer" "$type" "$(jq -r .id <<<"$res")" "$(jq -r --arg f "$field" '.[$f]' <<<"$res")" >>"$OUT/new-secrets.tsv"
        active <<<"$c" || inactive_creds+=("$type/$(jq -r .id <<<"$res")")
      fi
      ;;
    *) fail "credential of $old: unknown type $type" ;;
    esac
  done < <(jq -c '.value[]' <<<"$entry")
done < <(jq -c 'to_entries[]' "$OUT/eg-credentials.json")

# Statuses last: deactivating a user also deactivates its applications.
for c in ${inactive_creds[@]+"${inactive_creds[@]}"}; do
  call PUT "/credentials/$c/status" "status of credential $c" <<<'{"status":false}' >/dev/null || true
done
for id in ${inactive_apps[@]+"${inactive_apps[@]}"}; do
  call PUT "/apps/$id/status" "status of application $id" <<<'{"status":false}' >/dev/null || true
done
for id in ${inactive_users[@]+"${inactive_users[@]}"}; do
  call PUT "/users/$id/status" "status of user $id" <<<'{"status":false}' >/dev/null || true
done

failures=$(wc -l <"$OUT/errors.log")
echo "== done: $(($(wc -l <"$OUT/id-map.tsv") - 1)) consumers imported," \
  "$(($(wc -l <"$OUT/new-secrets.tsv") - 1)) new secrets in $OUT/new-secrets.tsv, $failures errors"
[ "$failures" = 0 ] || { echo "see $OUT/errors.log" >&2; exit 1; }
