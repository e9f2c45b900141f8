#!/bin/bash
# The .deb as an installer meets it: lintian, dpkg -i, the files it installs,
# `fieldgate check` on the installed config after the README's token step, the
# installed binary run as the service user against the testbench (an emulated
# thermostat and the reference backend, on loopback, with a bearer token read
# from /etc/fieldgate/token), then remove and purge, each leaving what it should.
#
#   systemd/package-test.sh DEB TESTBENCH
#
# Needs root, dpkg, lintian, curl, and a machine where fieldgate is not
# installed (it refuses to touch an existing install).
set -euo pipefail
deb=$(realpath "$1")
testbench=$(realpath "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)

fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
step() { echo "package-test: $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
if dpkg-query -W -f='${Status}' fieldgate 2>/dev/null | grep -q 'installed'; then
	fail "fieldgate is installed on this machine; the test installs and purges its own"
fi
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	dpkg -P fieldgate >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

step "lintian (no errors)"
lintian --fail-on error "$deb" || fail "lintian reports errors"

step "dpkg -i $(basename "$deb")"
dpkg -i "$deb" >/dev/null || fail "dpkg -i"
for f in /usr/bin/fieldgate /usr/lib/systemd/system/fieldgate.service /usr/lib/sysusers.d/fieldgate.conf \
	/usr/lib/tmpfiles.d/fieldgate.conf /etc/fieldgate/config.yaml /usr/share/doc/fieldgate/copyright \
	/usr/share/doc/fieldgate/README.md.gz /usr/share/doc/fieldgate/changelog.gz; do
	[ -e "$f" ] || fail "missing $f"
done
file /usr/bin/fieldgate 2>/dev/null | grep -q 'statically linked' || ldd /usr/bin/fieldgate 2>&1 | grep -q 'not a dynamic' \
	|| fail "/usr/bin/fieldgate is not static"
dpkg-query -W -f='${Conffiles}\n' fieldgate | grep -q '/etc/fieldgate/config.yaml' || fail "config.yaml is not a conffile"
getent passwd fieldgate >/dev/null || fail "no user fieldgate"
id -nG fieldgate | grep -qw dialout || fail "fieldgate is not in group dialout"
[ "$(stat -c '%U:%G %a' /etc/fieldgate/config.yaml)" = "root:fieldgate 640" ] || fail "config.yaml is $(stat -c '%U:%G %a' /etc/fieldgate/config.yaml), want root:fieldgate 640"
[ "$(stat -c '%U:%G %a' /var/lib/fieldgate)" = "fieldgate:fieldgate 750" ] || fail "/var/lib/fieldgate is $(stat -c '%U:%G %a' /var/lib/fieldgate)"
[ -L /etc/systemd/system/multi-user.target.wants/fieldgate.service ] || fail "the unit is not enabled"
if pgrep -x fieldgate >/dev/null; then fail "the daemon was started before it is configured"; fi
/usr/bin/fieldgate version | grep -q '^fieldgate v' || fail "fieldgate version: $(/usr/bin/fieldgate version)"
grep -q '^Documentation=file:///usr/share/doc/fieldgate/' /usr/lib/systemd/system/fieldgate.service || fail "unit's Documentation="
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify /usr/lib/systemd/system/fieldgate.service 2>&1 | grep -v 'Cannot add dependency' | grep . \
		&& fail "systemd-analyze verify complains" || true
fi

step "the README's token step, then fieldgate check on the installed config"
token=pkgtest-$RANDOM$RANDOM
install -m 0640 -o root -g fieldgate /dev/null /etc/fieldgate/token
printf '%s\n' "$token" >/etc/fieldgate/token
/usr/bin/fieldgate check --config /etc/fieldgate/config.yaml || fail "fieldgate check on the installed config"
runuser -u fieldgate -- /usr/bin/fieldgate check --config /etc/fieldgate/config.yaml >/dev/null \
	|| fail "the service user cannot check the installed config"

step "run the installed binary as the service user against the testbench"
cat >"$work/bench.yaml" <<YAML
backend:
  listen: 127.0.0.1:18480
  db: $work/backend.db
  token: $token
  models: $repo/testbench/demo/models
  rules:
    - {name: th, priority: 10, match: {identity.vendor: ACME Controls}, model: acme-th100, version: 1.0.0}
modbusTcp:
  - listen: 127.0.0.1:15020
    units:
      - id: 1
        identity: {vendor: ACME Controls, productCode: TH-100, revision: 1.2.0}
        input: {0: 215, 1: 455, 2: 57920, 3: 1}
        holding: {10: 215, 11: 1, 12: 0, 13: 0, 20: 21576, 21: 12609, 22: 12336, 23: 12337, 100: 0}
        coils: {0: false}
        discretes: {0: false}
YAML
install -d -m 0750 -o fieldgate -g fieldgate "$work/state"
chmod 0755 "$work"
cat >"$work/config.yaml" <<YAML
gateway: {id: pkgtest, stateDir: $work/state}
backend: {url: "http://127.0.0.1:18480", tokenFile: /etc/fieldgate/token, inboxWait: 2s}
api: {listen: "127.0.0.1:0"}
buses:
  - name: tcp
    protocol: modbus-tcp
    settings: {endpoints: ["127.0.0.1:15020"], units: "1", timeout: 500ms}
YAML
chmod 0644 "$work/config.yaml"
"$testbench" run --bench "$work/bench.yaml" >"$work/testbench.log" 2>&1 &
pids+=($!)
runuser -u fieldgate -- /usr/bin/fieldgate run --config "$work/config.yaml" >"$work/fieldgate.log" 2>&1 &
pids+=($!)
ok=""
for _ in $(seq 1 60); do
	if curl -sf http://127.0.0.1:18480/admin/stats | grep -q '"samples":[1-9]'; then ok=1; break; fi
	sleep 1
done
if [ -z "$ok" ]; then
	tail -n 20 "$work/fieldgate.log" "$work/testbench.log" >&2
	fail "no sample reached the backend within 60 s"
fi
owner=$(stat -c %U "$work/state/state.db")
[ "$owner" = fieldgate ] || fail "state.db owned by $owner, want fieldgate"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

step "dpkg -r: binary and unit gone, config kept"
dpkg -r fieldgate >/dev/null || fail "dpkg -r"
[ ! -e /usr/bin/fieldgate ] || fail "/usr/bin/fieldgate left after remove"
[ ! -e /usr/lib/systemd/system/fieldgate.service ] || fail "unit left after remove"
[ -e /etc/fieldgate/config.yaml ] || fail "remove deleted the conffile"

step "dpkg -P: config, token and state gone"
dpkg -P fieldgate >/dev/null || fail "dpkg -P"
[ ! -e /etc/fieldgate ] || fail "/etc/fieldgate left after purge"
[ ! -e /var/lib/fieldgate ] || fail "/var/lib/fieldgate left after purge"
[ ! -L /etc/systemd/system/multi-user.target.wants/fieldgate.service ] || fail "enable link left after purge"
if dpkg-query -W -f='${Status}' fieldgate 2>/dev/null | grep -q 'installed'; then fail "still installed"; fi
step "ok: $(basename "$deb") $(du -k "$deb" | cut -f1) KiB"
