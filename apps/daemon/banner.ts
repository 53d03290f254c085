import type { ControllerKind } from '../../src/control/command-executor.js';
import { formatHostPort } from '../../src/fd/address.js';

// What the daemon prints for a controller: one line saying what to type next.
// A secret appears only in the line of the start that generated it; after
// that, the line says where it is kept, so scrollback and journald do not
// collect it on every start.

export interface ControllerSecretInfo {
  /** The secret came from a flag or a command: the user has it. */
  readonly given: boolean;
  /** Made by this start (a fresh random secret, just stored in `file`). */
  readonly generated: boolean;
  readonly file: string;
  readonly value: string;
}

export interface BannerInput {
  readonly kind: ControllerKind;
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly secret: ControllerSecretInfo;
  /** Whether the secret may be shown (only the operator's own start-up output, once). */
  readonly mayShowSecret: boolean;
  /** The HTTP controller serves the status page. */
  readonly statusPage: boolean;
}

/** A shell word for a file path: quoted when it holds anything a shell would read. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The secret as the user should type it on this line. */
function secretText(b: BannerInput, flag: string): string {
  const s = b.secret;
  // Given by a flag at start, or by the command that added this controller.
  if (s.given) return `<your ${b.mayShowSecret ? flag : flag.replace(/^--(resp|http)-/, '')}>`;
  if (s.generated && b.mayShowSecret) return s.value;
  return `"$(cat ${shellWord(s.file)})"`;
}

export function bannerLine(b: BannerInput): string {
  const where = formatHostPort(b.host, b.port);
  // `resp-controller resp-controller listening` said the name twice.
  const who = b.name === b.kind ? b.kind : `${b.kind} ${b.name}`;
  let line: string;
  if (b.kind === 'resp-controller') {
    const host = b.host === '127.0.0.1' ? '' : ` -h ${b.host}`;
    line = `${who} listening on ${where}: redis-cli${host} -p ${b.port} -a ${secretText(b, '--resp-password')}`;
  } else {
    const token = secretText(b, '--http-token');
    const url = `http://${where}`;
    const page = b.statusPage ? `status page ${url}/?token=${token.replaceAll('"', '')}; ` : '';
    line = `${who} listening on ${where}: ${page}curl -H "Authorization: Bearer ${token.replaceAll('"', '')}" ${url}/api/v1/module/tcp-lb`;
  }
  if (b.secret.generated && b.mayShowSecret) {
    const what = b.kind === 'resp-controller' ? 'password' : 'token';
    line += ` (${what} generated now and kept in ${b.secret.file}; later starts show only the file)`;
  }
  return line;
}
