// What apps/vproxy.ts needs before it knows the subcommand (the version, help text), in a
// module that imports next to nothing: every subcommand loads it, so it must not pull in the
// daemon's modules (src/control/config.ts loads the command language and the lb resources:
// ~1 MB of heap a kcptun process never uses). The version comes from its own leaf module.

export { VERSION } from '../src/control/version.js';

/** Where the etcd password may come from instead of the command line (which `ps` shows). */
export const ETCD_PASSWORD_ENV = 'VPROXY_ETCD_PASSWORD';
