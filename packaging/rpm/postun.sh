# nodecap %postun. $1 = 0 on removal, 1+ on upgrade.
systemctl daemon-reload >/dev/null 2>&1 || :
