// What apps/vproxy.ts needs before it knows the subcommand (the version, help text), in a
// module that imports nothing: every subcommand loads it, so it must not pull in the
// daemon's modules (src/control/config.ts, where the daemon's VERSION lives, loads the
// command language and the lb resources: ~1 MB of heap a kcptun process never uses).

/** Same as VERSION in src/control/config.ts (the one saved configs name). */
export const VERSION = '0.1.0';

/** Where the etcd password may come from instead of the command line (which `ps` shows). */
export const ETCD_PASSWORD_ENV = 'VPROXY_ETCD_PASSWORD';
