#!/bin/sh
# Installs the nodecap RPM on an EKS AL2023 AMI being built, enables its units and checks
# them. Run as root by Packer (ami/nodecap-al2023.pkr.hcl); also run by the test suite in a
# throwaway root.
#
#   NODECAP_RPM        the package (default /tmp/nodecap.rpm)
#   NODECAP_RPM_FLAGS  extra `rpm -U` flags (the test root, a Debian tree, passes --nodeps)
set -eu

rpm_file=${NODECAP_RPM:-/tmp/nodecap.rpm}
[ -f "$rpm_file" ] || { echo "provision.sh: $rpm_file: no such package" >&2; exit 66; }

echo "provision.sh: installing $rpm_file"
# shellcheck disable=SC2086 # the flags are words
rpm -U --replacepkgs ${NODECAP_RPM_FLAGS:-} "$rpm_file"

# Both units start at every boot: nodecap-init before the kubelet (and nodeadm), nodecap
# after it. The package's scriptlets follow the distribution's presets; a node image wants
# them on whatever the presets say.
systemctl enable nodecap-init.service nodecap.service

fail() { echo "provision.sh: $*" >&2; exit 1; }
for unit in nodecap-init.service nodecap.service; do
  [ "$(systemctl is-enabled "$unit")" = enabled ] || fail "$unit is not enabled"
done
/usr/bin/nodecap --version || fail "/usr/bin/nodecap does not run"
# The embedded table answers without IMDS or credentials: the binary is whole.
[ "$(/usr/bin/nodecap max-pods --instance-type m5.large --cni-version 1.19.0)" = 29 ] \
  || fail "nodecap max-pods m5.large is not 29"
[ -f /etc/nodecap/config.toml ] || fail "/etc/nodecap/config.toml is missing"
echo "provision.sh: nodecap $(/usr/bin/nodecap --version | cut -d' ' -f2) installed, units enabled"
