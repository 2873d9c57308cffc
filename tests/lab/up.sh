#!/usr/bin/env bash
# Start the lab and deploy the appliance on it:
#   tests/lab/up.sh [single|cluster]        (make up / LAB=cluster make up)
# 1. a Docker engine and the lab image (debootstrap, nothing pulled);
# 2. one container per host of the lab inventory, named after it, on the
#    network gatehouse-lab; the proxy's 443 published on 127.0.0.1:8443;
# 3. a lab CA (.lab/ca.pem) and a certificate it signs for the proxy
#    (.lab/tls/proxy.{crt,key}), which the single-node lab's
#    group_vars/proxies.yml hands to the nginx role's `provided` TLS mode;
#    the cluster lab instead gets its certificate by ACME (nginx_tls_mode
#    acme) from Pebble on its monitoring host (tests/lab/pebble.yml), whose
#    root is appended to .lab/ca.pem: that file stays the one to trust;
# 4. the inventory's secrets (make secrets; never overwritten);
# 5. site.yml, then playbooks/verify.yml, with nothing but the inventory:
#    `ansible-playbook -i inventories/lab site.yml` by hand (with
#    ANSIBLE_VAULT_PASSWORD_FILE=.lab/vault-pass) does the same;
# 6. the issuer URL and where the admin credentials are.
# Running it again reuses the containers, the CA and the secrets, and
# site.yml then reports changed=0 (unless app/ changed: the wheelhouse is
# rebuilt from it and a new wheel is deployed).
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
export PATH="$REPO_ROOT/.venv/bin:$PATH"

lab="${1:-${LAB:-single}}"
case "$lab" in
  single) inventory_dir=inventories/lab ;;
  cluster) inventory_dir=inventories/lab-cluster ;;
  *) die "LAB must be single or cluster (got '$lab')" ;;
esac
inventory="$inventory_dir/hosts.yml"
[[ -f "$inventory" ]] || die "no lab inventory at $inventory"
issuer_port=8443
lab_domain=auth.lab.test
start=$SECONDS

"$REPO_ROOT/tests/lab/docker.sh"
"$REPO_ROOT/tests/lab/image.sh"

mkdir -p "$LAB_DIR"
chmod 700 "$LAB_DIR"

# --- hosts of the inventory -------------------------------------------------
# Read the hosts of a group from the inventory file itself (group_vars may
# hold a vault that cannot be opened before `make secrets` ran).
read_inventory() {
  python3 - "$inventory" "$1" <<'PY'
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1])) or {}
def walk(name, node, inside):
    node = node or {}
    here = inside or name == sys.argv[2]
    found = set((node.get("hosts") or {}).keys()) if here else set()
    for child, sub in (node.get("children") or {}).items():
        found |= walk(child, sub, here)
    return found
print(" ".join(sorted(set().union(*(walk(k, v, False) for k, v in inv.items())))))
PY
}
read -r -a hosts <<<"$(read_inventory all)"
read -r -a proxies <<<"$(read_inventory proxies)"
read -r -a monitors <<<"$(read_inventory monitoring)"
((${#hosts[@]})) || die "the inventory $inventory lists no hosts"
((${#proxies[@]} == 1)) || die "the lab publishes one proxy on 127.0.0.1:$issuer_port; $inventory has ${#proxies[@]} in proxies"
proxy="${proxies[0]}"
# The first monitoring host publishes Prometheus and Alertmanager on loopback.
monitor="${monitors[0]:-}"
prometheus_port=9090 alertmanager_port=9093

# A container of the other lab (the same names, or the published port) is in the way.
other="$(docker ps -a --filter label=gatehouse-lab.lab --format '{{.Names}} {{.Label "gatehouse-lab.lab"}}' | awk -v l="$lab" '$2 != l {print $1}')"
[[ -z "$other" ]] || die "containers of another lab exist ($other): run 'make down' first"

if ! docker network inspect "$LAB_NETWORK" >/dev/null 2>&1; then
  log "creating network $LAB_NETWORK"
  docker network create --label gatehouse-lab=1 "$LAB_NETWORK" >/dev/null
fi

created=0
for host in "${hosts[@]}"; do
  if docker container inspect "$host" >/dev/null 2>&1; then
    if [[ "$(docker container inspect -f '{{.State.Running}}' "$host")" != true ]]; then
      log "starting $host"
      docker start "$host" >/dev/null
    fi
    continue
  fi
  log "creating $host"
  publish=()
  # The proxy is also reachable in the lab network as the lab domain, which
  # its ACME certificate covers besides localhost.
  [[ "$host" == "$proxy" ]] && publish=(-p "127.0.0.1:$issuer_port:443" --network-alias "$lab_domain")
  [[ "$host" == "$monitor" ]] && publish+=(-p "127.0.0.1:$prometheus_port:9090" -p "127.0.0.1:$alertmanager_port:9093")
  docker run -d --name "$host" --hostname "$host" --network "$LAB_NETWORK" \
    --label gatehouse-lab=1 --label "gatehouse-lab.lab=$lab" \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run --tmpfs /run/lock \
    "${publish[@]}" "$LAB_IMAGE" /sbin/init >/dev/null
  created=1
done

# New containers have new addresses: cached facts of the old ones would lie.
if ((created)); then
  rm -rf "$LAB_DIR/facts"
fi

for host in "${hosts[@]}"; do
  for _ in $(seq 1 60); do
    state="$(docker exec "$host" systemctl is-system-running 2>/dev/null || true)"
    [[ "$state" == running || "$state" == degraded ]] && break
    sleep 1
  done
  [[ "$state" == running || "$state" == degraded ]] || die "systemd in $host did not come up (state: ${state:-none})"
done
log "hosts up: ${hosts[*]}"

# --- lab CA and the proxy's certificate ------------------------------------
ca_key="$LAB_DIR/ca.key" ca_cert="$LAB_DIR/ca.pem"
if [[ ! -s "$ca_key" || ! -s "$ca_cert" ]]; then
  log "creating the lab CA ($ca_cert)"
  (umask 077; openssl ecparam -name prime256v1 -genkey -noout -out "$ca_key")
  openssl req -x509 -new -key "$ca_key" -sha256 -days 3650 \
    -subj "/CN=Gatehouse lab CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$ca_cert" 2>/dev/null
fi
chmod 600 "$ca_key"
chmod 644 "$ca_cert"

tls_dir="$LAB_DIR/tls"
mkdir -p "$tls_dir"
chmod 700 "$tls_dir"
cert="$tls_dir/proxy.crt" key="$tls_dir/proxy.key"
sans="DNS:localhost,DNS:$proxy,IP:127.0.0.1"
if [[ ! -s "$cert" || ! -s "$key" || "$(cat "$tls_dir/proxy.sans" 2>/dev/null)" != "$sans" ]] \
   || ! openssl x509 -checkend $((30 * 86400)) -noout -in "$cert" >/dev/null \
   || ! openssl verify -CAfile "$ca_cert" "$cert" >/dev/null 2>&1; then
  log "issuing the proxy certificate for $sans"
  (umask 077; openssl ecparam -name prime256v1 -genkey -noout -out "$key")
  openssl req -new -key "$key" -subj "/CN=localhost" -out "$tls_dir/proxy.csr" 2>/dev/null
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=$sans" >"$tls_dir/proxy.ext"
  openssl x509 -req -in "$tls_dir/proxy.csr" -CA "$ca_cert" -CAkey "$ca_key" -CAcreateserial \
    -days 825 -sha256 -extfile "$tls_dir/proxy.ext" -out "$cert" 2>/dev/null
  printf '%s' "$sans" >"$tls_dir/proxy.sans"
  rm -f "$tls_dir/proxy.csr" "$tls_dir/proxy.ext"
fi
chmod 600 "$key"

# Written by earlier versions of this script; the lab inventories'
# group_vars/proxies.yml now name the files above.
rm -f "$LAB_DIR/lab-vars.yml"

# --- secrets, site.yml, verify.yml -----------------------------------------
if [[ -f playbooks/secrets.yml ]]; then
  make --no-print-directory secrets INVENTORY="$inventory_dir"
fi
if [[ -s "$LAB_DIR/vault-pass" && -z "${ANSIBLE_VAULT_PASSWORD_FILE:-}" ]]; then
  export ANSIBLE_VAULT_PASSWORD_FILE="$LAB_DIR/vault-pass"
fi

# The ACME CA, before site.yml asks it for the proxy's certificate.
tls_source="the lab CA's certificate ($cert)"
if grep -qs '^nginx_tls_mode: acme' "$inventory_dir/group_vars/proxies.yml"; then
  log "ansible-playbook -i $inventory_dir tests/lab/pebble.yml (the lab's ACME CA)"
  ansible-playbook -i "$inventory_dir" tests/lab/pebble.yml -e "lab_acme_ca_dir=$LAB_DIR"
  tls_source="ACME, from Pebble on ${monitor:-the monitoring host} (for localhost and $lab_domain)"
fi

if [[ -f site.yml ]]; then
  log "ansible-playbook -i $inventory_dir site.yml"
  ansible-playbook -i "$inventory_dir" site.yml
else
  log "no site.yml yet: hosts are up, nothing deployed"
fi
if [[ -f playbooks/verify.yml && -f site.yml ]]; then
  log "ansible-playbook -i $inventory_dir playbooks/verify.yml"
  ansible-playbook -i "$inventory_dir" playbooks/verify.yml
fi

# --- where things are -------------------------------------------------------
echo
echo "Gatehouse lab '$lab' is up ($((SECONDS - start)) s): ${hosts[*]}"
echo "  issuer:       https://localhost:$issuer_port"
if [[ -n "$monitor" ]]; then
  echo "  prometheus:   http://localhost:$prometheus_port   (targets: http://localhost:$prometheus_port/targets)"
  echo "  alertmanager: http://localhost:$alertmanager_port"
  echo "  grafana:      not installed in the lab (its artifacts are out of reach here: README, Monitoring)"
fi
echo "  certificate:  $tls_source"
echo "  trust file:   $ca_cert   (curl --cacert .lab/ca.pem https://localhost:$issuer_port/.well-known/openid-configuration)"
if compgen -G "$inventory_dir/credentials/*" >/dev/null; then
  echo "  admin credentials (0600, never printed):"
  for f in "$inventory_dir"/credentials/*; do echo "    $f"; done
else
  echo "  admin credentials: written to $inventory_dir/credentials/ by site.yml"
fi
echo "  remove with:  make down"
