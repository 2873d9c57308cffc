#!/usr/bin/env bash
# Two clients ask the issuer for its discovery document and JWKS back to
# back, over HTTPS, until SECONDS have passed; every answer but a 200 (a
# refused connection, a TLS error, a 5xx) counts as failed. Prints
# "ok=N failed=M" and each failure on stderr.
#   keep_asking.sh SECONDS ISSUER [CAFILE]     (no CAFILE: --insecure)
set -uo pipefail
seconds=$1 issuer=$2 cafile=${3:-}
if [[ -n "$cafile" ]]; then trust=(--cacert "$cafile"); else trust=(--insecure); fi
end=$((SECONDS + seconds))
client() {
  local ok=0 bad=0 code path
  while ((SECONDS < end)); do
    for path in /.well-known/openid-configuration /jwks.json; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 "${trust[@]}" "$issuer$path")
      if [[ $code == 200 ]]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "$path: $code" >&2; fi
    done
  done
  echo "$ok $bad"
}
out=$(mktemp)
client >"$out.1" & client >"$out.2" & wait
cat "$out.1" "$out.2" | awk '{ok += $1; bad += $2} END {print "ok=" ok, "failed=" bad}'
rm -f "$out" "$out.1" "$out.2"
