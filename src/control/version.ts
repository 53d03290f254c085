/**
 * The vproxy-ts version saved configs and `--version` name. A module of its own that imports
 * nothing, so the CLI entry point can print it without loading the command language.
 */
export const VERSION = '0.1.0';
