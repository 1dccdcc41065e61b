# nodecap %post. $1 = 1 on first install, 2+ on upgrade.
systemctl daemon-reload >/dev/null 2>&1 || :
systemd-tmpfiles --create /usr/lib/tmpfiles.d/nodecap.conf >/dev/null 2>&1 || :
systemd-sysctl /usr/lib/sysctl.d/50-nodecap.conf >/dev/null 2>&1 || :
if [ "$1" -eq 1 ]; then
    # First install: both units on (nodecap-init before the kubelet, the daemon after it).
    # An upgrade keeps whatever the administrator chose since.
    systemctl enable nodecap-init.service nodecap.service >/dev/null 2>&1 || :
else
    systemctl try-restart nodecap.service >/dev/null 2>&1 || :
fi
