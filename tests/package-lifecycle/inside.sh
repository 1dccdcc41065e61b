#!/bin/sh
# Runs inside a booted throwaway root (tests/packaging.sh): installs, upgrades and removes a
# nodecap package under real systemd, writing what it sees to /out, then powers off.
#   $1: deb or rpm. /pkg holds the packages (v1 and its upgrade), testkit and provision.sh.
set -u
kind=$1
out=/out
log() { echo "$*" >>"$out/steps"; }
show() { systemctl show "$@" -p Id,ActiveState,Result,ExecMainStatus,ExecMainStartTimestampMonotonic,ExecMainExitTimestampMonotonic; }

# The node: a test IMDS on this root's own loopback, a stub kubelet that copies what
# nodecap-init wrote, and both nodecap units pointed at the test IMDS.
/pkg/testkit imds --instance-type m5.large --enis 3 --ips-per-eni 10 --listen 127.0.0.1:1338 >/run/imds.url 2>/run/imds.log &
mkdir -p /etc/systemd/system/nodecap-init.service.d /etc/systemd/system/nodecap.service.d
for unit in nodecap-init nodecap; do
  printf '[Service]\nEnvironment=NODECAP_IMDS_ENDPOINT=http://127.0.0.1:1338\n' \
    >"/etc/systemd/system/$unit.service.d/test.conf"
done
cat >/etc/systemd/system/kubelet.service <<'UNIT'
[Unit]
Description=stub kubelet
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/cp /etc/kubernetes/kubelet/config.json /out/seen-by-kubelet.conf
UNIT
mkdir -p /etc/kubernetes/kubelet
echo '{"kind":"KubeletConfiguration","apiVersion":"kubelet.config.k8s.io/v1beta1"}' >/etc/kubernetes/kubelet/config.json

v1=$(ls /pkg/v1/*."$kind")
v2=$(ls /pkg/v2/*."$kind")
log "install $v1"
if [ "$kind" = deb ]; then
  dpkg -i "$v1" >"$out/install.log" 2>&1; echo $? >"$out/install.rc"
else
  # The AMI's provisioning script installs the RPM (Debian's rpm database knows no glibc:
  # --nodeps).
  NODECAP_RPM=$v1 NODECAP_RPM_FLAGS=--nodeps sh /pkg/provision.sh >"$out/install.log" 2>&1
  echo $? >"$out/install.rc"
fi
systemctl is-enabled nodecap-init.service nodecap.service >"$out/enabled" 2>&1
# What systemd-sysctl applies at boot (the container's /proc/sys is read-only).
/usr/lib/systemd/systemd-sysctl --cat-config >"$out/sysctl" 2>&1
test -d /var/lib/nodecap && echo yes >"$out/state-dir"

log "start the kubelet: nodecap-init first"
systemctl start kubelet.service
show nodecap-init.service kubelet.service >"$out/order"
journalctl -u nodecap-init.service --no-pager >"$out/init.log" 2>&1

log "start nodecap.service and scrape it"
systemctl start nodecap.service
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:61682/metrics >"$out/metrics" 2>/dev/null && break
  sleep 0.1
done
journalctl -u nodecap.service --no-pager >"$out/daemon.log" 2>&1

log "edit the configuration, then upgrade to $v2"
echo '# a local edit' >>/etc/nodecap/config.toml
if [ "$kind" = deb ]; then
  dpkg -i --force-confdef --force-confold "$v2" >"$out/upgrade.log" 2>&1
  dpkg-query -W -f '${Version}\n' nodecap >"$out/version"
else
  rpm -U --nodeps "$v2" >"$out/upgrade.log" 2>&1
  rpm -q --qf '%{VERSION}-%{RELEASE}\n' nodecap >"$out/version"
fi
echo $? >"$out/upgrade.rc"
grep -c '^# a local edit$' /etc/nodecap/config.toml >"$out/edit-kept"
systemctl is-active nodecap.service >"$out/active-after-upgrade" 2>&1
systemctl is-enabled nodecap-init.service nodecap.service >"$out/enabled-after-upgrade" 2>&1

log "remove"
if [ "$kind" = deb ]; then
  dpkg -r nodecap >"$out/remove.log" 2>&1; echo $? >"$out/remove.rc"
else
  rpm -e --nodeps nodecap >"$out/remove.log" 2>&1; echo $? >"$out/remove.rc"
fi
systemctl daemon-reload
systemctl is-active nodecap.service >"$out/active-after-remove" 2>&1
test -e /usr/bin/nodecap && echo present >"$out/binary-after-remove"
if [ "$kind" = deb ]; then
  # dpkg keeps a removed package's enablement until it is purged.
  dpkg -P nodecap >"$out/purge.log" 2>&1; echo $? >"$out/purge.rc"
fi
ls /etc/systemd/system/multi-user.target.wants/ /etc/systemd/system/kubelet.service.wants/ \
  >"$out/wants-after-remove" 2>&1
log finished
systemctl poweroff
