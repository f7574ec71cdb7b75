#!/usr/bin/env bash
# Makes a local development CA and a certificate for every name the NGINX
# edge serves (each `ssl_certificate certs/<name>.crt` in deploy/nginx/edge:
# the realm domains, the admin domains and `default`), into DIR (default
# var/certs):
#
#   ca.crt, ca.key              the development CA; trust ca.crt, keep ca.key
#   <domain>.crt, <domain>.key  one per domain, signed by the CA
#   default.crt, default.key    for the 421 default server (default.invalid)
#
# Usage: scripts/dev-certs.sh [DIR]
#
# openssl only, nothing is downloaded. Idempotent: a file that exists is
# kept while it is valid for 30 more days (and, for a domain, signed by the
# current CA); anything else is made anew. The CA may sign only names under
# localhost, realms.test and invalid (name constraints), so its key cannot
# make certificates that a browser would accept for any other site.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/var/certs}"
edge="$root/deploy/nginx/edge"

CA_DAYS=3650
LEAF_DAYS=397 # under the 398 days Apple platforms accept for TLS servers
RENEW_SECONDS=$((30 * 24 * 3600))

names="$(grep -rhoE --include='*.conf' 'ssl_certificate[[:space:]]+certs/[^;[:space:]]+\.crt' "$edge" |
  sed -E 's#.*certs/(.*)\.crt$#\1#' | sort -u)"
if [ -z "$names" ]; then
  echo "dev-certs: no ssl_certificate certs/<name>.crt in $edge" >&2
  exit 1
fi

mkdir -p "$dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
umask 077

# One openssl configuration for the CA and every leaf; a leaf's subject
# alternative name comes from REALMS_CERT_SAN.
cat >"$work/openssl.cnf" <<'EOF'
[req]
distinguished_name = subject
prompt = no

[subject]
CN = Realms development CA

[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
nameConstraints = critical, permitted;DNS:localhost, permitted;DNS:realms.test, permitted;DNS:invalid

[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:${ENV::REALMS_CERT_SAN}
EOF
export REALMS_CERT_SAN=unused

new_key() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null
}

# Valid now and for RENEW_SECONDS more.
fresh() {
  [ -s "$1" ] && openssl x509 -in "$1" -noout -checkend "$RENEW_SECONDS" >/dev/null 2>&1
}

# The CA: kept while fresh; a new CA means every domain certificate is
# made again (they no longer verify against it).
if fresh "$dir/ca.crt" && [ -s "$dir/ca.key" ]; then
  echo "kept    $dir/ca.crt"
else
  new_key "$work/ca.key"
  openssl req -x509 -new -sha256 -days "$CA_DAYS" -key "$work/ca.key" \
    -config "$work/openssl.cnf" -extensions ca -out "$work/ca.crt"
  mv "$work/ca.key" "$dir/ca.key"
  mv "$work/ca.crt" "$dir/ca.crt"
  chmod 644 "$dir/ca.crt"
  echo "created $dir/ca.crt (trust it: see README, NGINX and TLS)"
fi

for name in $names; do
  crt="$dir/$name.crt"
  key="$dir/$name.key"
  if fresh "$crt" && [ -s "$key" ] &&
    openssl verify -CAfile "$dir/ca.crt" "$crt" >/dev/null 2>&1; then
    echo "kept    $crt"
    continue
  fi

  # `default` (no dot) is no host name: it stands for default.invalid.
  case "$name" in
    *.*) san="$name" ;;
    *) san="$name.invalid" ;;
  esac
  new_key "$work/$name.key"
  openssl req -new -sha256 -key "$work/$name.key" -subj "/CN=$san" \
    -config "$work/openssl.cnf" -out "$work/$name.csr"
  REALMS_CERT_SAN="$san" openssl x509 -req -sha256 -days "$LEAF_DAYS" \
    -in "$work/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$work/openssl.cnf" -extensions leaf -out "$work/$name.crt" 2>/dev/null
  # Fails here for a name outside the CA's name constraints.
  openssl verify -CAfile "$dir/ca.crt" "$work/$name.crt" >/dev/null
  mv "$work/$name.key" "$key"
  mv "$work/$name.crt" "$crt"
  chmod 644 "$crt"
  echo "created $crt"
done
