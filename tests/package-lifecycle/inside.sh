#!/bin/sh
# Runs inside a throwaway root booted by tests/packaging.sh, writing what it sees to /out,
# then powers off. Two boots of the same root:
#   install KIND  the first boot: the node's stand-ins, then the package (the RPM through the
#                 AMI's provisioning script);
#   boot KIND     the next boot, the package's first: nodecap-init ran before the stub kubelet
#                 and nodecap.service serves /metrics; then an upgrade keeping a local edit,
#                 and removal.
# /pkg holds the packages (v1 and its upgrade, release 2), testkit and provision.sh.
set -u
phase=$1
kind=$2
out=/out
log() { echo "$*" >>"$out/steps"; }

if [ "$phase" = install ]; then
  # The node: a test IMDS on this root's loopback and a stub kubelet copying what it would
  # read, both started at boot; both nodecap units pointed at the test IMDS.
  cat >/etc/systemd/system/test-imds.service <<'UNIT'
[Unit]
Description=test IMDS
Before=nodecap-init.service nodecap.service
[Service]
ExecStart=/pkg/testkit imds --instance-type m5.large --enis 3 --ips-per-eni 10 --listen 127.0.0.1:1338
[Install]
WantedBy=multi-user.target
UNIT
  cat >/etc/systemd/system/kubelet.service <<'UNIT'
[Unit]
Description=stub kubelet
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/cp /etc/kubernetes/kubelet/config.json /out/seen-by-kubelet.conf
[Install]
WantedBy=multi-user.target
UNIT
  systemctl enable test-imds.service kubelet.service >/dev/null 2>&1
  for unit in nodecap-init nodecap; do
    mkdir -p "/etc/systemd/system/$unit.service.d"
    printf '[Service]\nEnvironment=NODECAP_IMDS_ENDPOINT=http://127.0.0.1:1338\n' \
      >"/etc/systemd/system/$unit.service.d/test.conf"
  done
  mkdir -p /etc/kubernetes/kubelet
  echo '{"kind":"KubeletConfiguration","apiVersion":"kubelet.config.k8s.io/v1beta1"}' \
    >/etc/kubernetes/kubelet/config.json

  v1=$(ls /pkg/v1/*."$kind")
  log "install $v1"
  if [ "$kind" = deb ]; then
    dpkg -i "$v1" >"$out/install.log" 2>&1; echo $? >"$out/install.rc"
  else
    # Debian's rpm database knows no glibc: --nodeps.
    NODECAP_RPM=$v1 NODECAP_RPM_FLAGS=--nodeps sh /pkg/provision.sh >"$out/install.log" 2>&1
    echo $? >"$out/install.rc"
  fi
  systemctl is-enabled nodecap-init.service nodecap.service >"$out/enabled" 2>&1
  # What systemd-sysctl applies at boot (the container's /proc/sys is read-only).
  /usr/lib/systemd/systemd-sysctl --cat-config >"$out/sysctl" 2>&1
  log "installed"
  systemctl poweroff
  exit 0
fi

log "booted"
test -d /var/lib/nodecap && echo yes >"$out/state-dir"
systemctl show nodecap-init.service kubelet.service \
  -p Id,Result,ExecMainStatus,ExecMainStartTimestampMonotonic,ExecMainExitTimestampMonotonic >"$out/order"
journalctl -b -u nodecap-init.service --no-pager >"$out/init.log" 2>&1
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:61682/metrics >"$out/metrics" 2>/dev/null && break
  sleep 0.1
done
journalctl -b -u nodecap.service --no-pager >"$out/daemon.log" 2>&1

v2=$(ls /pkg/v2/*."$kind")
log "edit the configuration, then upgrade to $v2"
echo '# a local edit' >>/etc/nodecap/config.toml
if [ "$kind" = deb ]; then
  dpkg -i --force-confdef --force-confold "$v2" >"$out/upgrade.log" 2>&1
  echo $? >"$out/upgrade.rc"
  dpkg-query -W -f '${Version}\n' nodecap >"$out/version"
else
  rpm -U --nodeps "$v2" >"$out/upgrade.log" 2>&1
  echo $? >"$out/upgrade.rc"
  rpm -q --qf '%{VERSION}-%{RELEASE}\n' nodecap >"$out/version"
fi
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
