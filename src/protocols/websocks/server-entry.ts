import { serverAuthorityValue } from './config-values.js';
import { AgentConfigError } from './errors.js';

export type ServerScheme = 'websocks' | 'websockss' | 'websocks:kcp' | 'websockss:kcp';

/** One server of a server list (§4.3). */
export interface ServerEntry {
  readonly scheme: ServerScheme;
  /** websockss…: TLS to the server (SNI = the name when the host is a name). */
  readonly tls: boolean;
  /** …:kcp: a stream in a KCP tunnel to UDP host:port. */
  readonly kcp: boolean;
  /** Lower-case name, dotted IPv4, or canonical IPv6 without brackets. */
  readonly host: string;
  readonly hostType: 'name' | 'ipv4' | 'ipv6';
  readonly port: number;
  /**
   * An external program to start for this server (a local relay), as written;
   * expand it with expandServerCommand when starting it. The server is then
   * reached at 127.0.0.1:$LOCAL_PORT, keeping `host` for SNI and Host.
   */
  readonly command: string | null;
  readonly line: number;
}

const SCHEMES: readonly ServerScheme[] = ['websocks', 'websockss', 'websocks:kcp', 'websockss:kcp'];

/** `<scheme>://<host>:<port>[ <command line>]`. */
export function parseServerEntry(text: string, line: number): ServerEntry {
  const sep = text.indexOf('://');
  if (sep < 0)
    throw new AgentConfigError(
      line,
      `server entry ${JSON.stringify(text.slice(0, 60))}: want scheme://host:port`,
    );
  const scheme = text.slice(0, sep) as ServerScheme;
  if (!SCHEMES.includes(scheme)) {
    throw new AgentConfigError(
      line,
      `server scheme ${JSON.stringify(text.slice(0, sep).slice(0, 30))} is not one of ${SCHEMES.join(', ')}`,
    );
  }
  const rest = text.slice(sep + 3);
  const space = rest.search(/\s/);
  const address = space < 0 ? rest : rest.slice(0, space);
  const command = space < 0 ? null : rest.slice(space).trim() || null;
  const { host, hostType, port } = serverAuthorityValue(address, line);
  return {
    scheme,
    tls: scheme.startsWith('websockss'),
    kcp: scheme.endsWith(':kcp'),
    host,
    hostType,
    port,
    command,
    line,
  };
}

/**
 * The command line to run for a server entry: every `~` → the home directory,
 * `$SERVER_IP` / `$SERVER_PORT` → the configured host and port, `$LOCAL_PORT`
 * → the local port chosen for it (the reference picked 30000–39999 at random;
 * the caller chooses, so this stays pure).
 */
export function expandServerCommand(
  entry: ServerEntry,
  home: string,
  localPort: number,
): string | null {
  if (entry.command === null) return null;
  return entry.command
    .replaceAll('~', home)
    .replaceAll('$SERVER_IP', entry.host)
    .replaceAll('$SERVER_PORT', String(entry.port))
    .replaceAll('$LOCAL_PORT', String(localPort));
}
