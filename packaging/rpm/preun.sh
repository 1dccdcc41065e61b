# nodecap %preun. $1 = 0 on removal, 1+ on upgrade.
if [ "$1" -eq 0 ]; then
    systemctl disable --now nodecap.service nodecap-init.service >/dev/null 2>&1 || :
fi
