#!/bin/sh
# The 1,000-connection tests need ~4,000 descriptors, and the daemon attacked in
# test/adversarial holds two per proxied connection; many machines default to a
# soft limit of 1,024. Raise the hard limit to 65,536 first where that is allowed
# (root with CAP_SYS_RESOURCE, as in CI) — never lowering a higher one — then the
# soft limit to the hard limit, for this run only. Without the privilege the
# first step fails quietly and the soft limit still goes up to the hard one.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 65536 ]; then
  ulimit -Hn 65536 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$@"
