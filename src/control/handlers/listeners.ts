import { type Address, formatHostPort, parseAddress } from '../../fd/address.js';
import { VproxyError } from '../../fd/errors.js';
import { TcpLB } from '../../lb/tcp-lb.js';
import type { SessionInfo } from '../../proxy/session.js';
import type { Command } from '../command/parse.js';
import type { CommandResult, ListItem } from '../executor.js';
import { ALLOW_ALL, mustBeNew, mustGet, type ResourceStore, type TcpLbEntry } from '../store.js';

// tcp-lb, and what can be inspected inside one: server-sock, connection, session, bytes.

const DONE: CommandResult = { kind: 'done' };

/** With `cert-key` names, a tls listener gets its certificate from those resources. */
function listenAddress(
  store: ResourceStore,
  address: string,
  certKeys: readonly string[],
): Address {
  const parsed = parseAddress(address);
  if (certKeys.length === 0) return parsed;
  if (!parsed.scheme.split('+').includes('tls')) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `cert-key needs a tls address (tls://…), not ${parsed.scheme}://`,
    );
  }
  if (certKeys.length > 1) throw new VproxyError('ERR_OPTION_INVALID', 'one cert-key per listener');
  const ck = mustGet(store.certKeys, 'cert-key', certKeys[0] ?? '');
  return { ...parsed, options: { ...parsed.options, cert: ck.certs[0] ?? '', 'cert-key': ck.key } };
}

export async function tcpLbCommand(store: ResourceStore, cmd: Command): Promise<CommandResult> {
  const name = cmd.name ?? '';
  const p = cmd.params;
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...store.tcpLbs.keys()] };
    case 'list-detail':
      return { kind: 'list', items: [...store.tcpLbs.entries()].map(([n, e]) => describe(n, e)) };
    case 'add': {
      mustBeNew(store.tcpLbs, 'tcp-lb', name);
      const upstream = mustGet(store.upstreams, 'upstream', p.upstream ?? '');
      const acceptorElg = p['acceptor-elg'] ?? '(acceptor-elg)';
      const elg = p['event-loop-group'] ?? '(worker-elg)';
      mustGet(store.elgs, 'event-loop-group', acceptorElg);
      mustGet(store.elgs, 'event-loop-group', elg);
      const certKeys = p['cert-key'] === undefined ? [] : p['cert-key'].split(',');
      const lb = await TcpLB.start({
        name,
        address: listenAddress(store, p.address ?? '', certKeys),
        upstream,
        registry: store.registry,
        securityGroup: store.securityGroup(p['security-group'] ?? ALLOW_ALL),
        idleTimeoutMs: Number(p.timeout ?? 900_000),
        inBufferSize: Number(p['in-buffer-size'] ?? 16_384),
        outBufferSize: Number(p['out-buffer-size'] ?? 16_384),
      });
      store.tcpLbs.set(name, {
        lb,
        address: p.address ?? '',
        upstream: upstream.name,
        acceptorElg,
        elg,
        certKeys,
      });
      return DONE;
    }
    case 'update': {
      const { lb } = mustGet(store.tcpLbs, 'tcp-lb', name);
      lb.update({
        ...(p.timeout === undefined ? {} : { idleTimeoutMs: Number(p.timeout) }),
        ...(p['in-buffer-size'] === undefined ? {} : { inBufferSize: Number(p['in-buffer-size']) }),
        ...(p['out-buffer-size'] === undefined
          ? {}
          : { outBufferSize: Number(p['out-buffer-size']) }),
        ...(p['security-group'] === undefined
          ? {}
          : { securityGroup: store.securityGroup(p['security-group']) }),
      });
      return DONE;
    }
    default: {
      const { lb } = mustGet(store.tcpLbs, 'tcp-lb', name);
      store.tcpLbs.delete(name);
      await lb.close();
      return DONE;
    }
  }
}

function describe(name: string, e: TcpLbEntry): string {
  const s = e.lb.settings();
  return (
    `${name} -> acceptor ${e.acceptorElg} worker ${e.elg} bind ${e.lb.serverSockId()} address ${e.address}` +
    ` backends ${e.upstream} timeout ${s.idleTimeoutMs} in-buffer-size ${s.inBufferSize}` +
    ` out-buffer-size ${s.outBufferSize} protocol tcp security-group ${s.securityGroup.name}` +
    (e.certKeys.length > 0 ? ` cert-key ${e.certKeys.join(',')}` : '')
  );
}

/** Connection ids as the reference prints them: accepted `remote/local`, outbound `local/remote`. */
function connectionIds(lb: TcpLB, s: SessionInfo): [string, string | null] {
  const target = parseAddress(s.target);
  return [
    `${s.client}/${lb.serverSockId()}`,
    s.backendLocal === null
      ? null
      : `${s.backendLocal}/${formatHostPort(target.host, target.port)}`,
  ];
}

/** `/regex/` matches by substring search; anything else must equal the id. */
function matcher(pattern: string): (id: string) => boolean {
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    let re: RegExp;
    try {
      re = new RegExp(pattern.slice(1, -1));
    } catch (err) {
      throw new VproxyError(
        'ERR_COMMAND_INVALID',
        `invalid regex ${pattern}: ${(err as Error).message}`,
      );
    }
    return (id) => re.test(id);
  }
  return (id) => id === pattern;
}

/** session / connection / server-sock / bytes-* / accepted-conn-count inside a tcp-lb. */
export function inspectListener(store: ResourceStore, cmd: Command): CommandResult {
  const lbRef = cmd.location.find((r) => r.type === 'tcp-lb');
  if (!lbRef)
    throw new VproxyError(
      'ERR_NOT_SUPPORTED',
      `${cmd.type} can only be inspected in a tcp-lb here`,
    );
  const { lb } = mustGet(store.tcpLbs, 'tcp-lb', lbRef.name);
  const sessions = lb.sessions();
  const detail = cmd.action === 'list-detail';
  switch (cmd.type) {
    case 'server-sock':
      return detail ? { kind: 'list', items: [lb.serverSockId()] } : { kind: 'number', value: 1 };
    case 'session': {
      const pairs: ListItem[] = sessions.map((s) =>
        connectionIds(lb, s).filter((x): x is string => x !== null),
      );
      if (cmd.action === 'force-remove')
        return killWhere(lb, sessions, (ids) => ids.some(matcher(cmd.name ?? '')), true);
      return detail ? { kind: 'list', items: pairs } : { kind: 'number', value: sessions.length };
    }
    case 'connection': {
      const ids = sessions.flatMap((s) =>
        connectionIds(lb, s).filter((x): x is string => x !== null),
      );
      if (cmd.action === 'force-remove') {
        const match = matcher(cmd.name ?? '');
        return killWhere(lb, sessions, (pair) => pair.some(match), false);
      }
      return detail ? { kind: 'list', items: ids } : { kind: 'number', value: ids.length };
    }
    default: {
      // bytes-in / bytes-out / accepted-conn-count of the listener (in server-sock X in tcp-lb Y).
      const stats = lb.stats();
      const sock = cmd.location[0];
      if (sock?.type === 'server-sock' && sock.name !== lb.serverSockId()) {
        throw new VproxyError('ERR_NOT_FOUND', `Cannot find server-sock with name ${sock.name}.`);
      }
      const value =
        cmd.type === 'bytes-in'
          ? stats.bytesIn
          : cmd.type === 'bytes-out'
            ? stats.bytesOut
            : stats.accepted;
      return { kind: 'number', value };
    }
  }
}

function killWhere(
  lb: TcpLB,
  sessions: readonly SessionInfo[],
  match: (ids: string[]) => boolean,
  whole: boolean,
): CommandResult {
  let killed = 0;
  for (const s of sessions) {
    const ids = connectionIds(lb, s).filter((x): x is string => x !== null);
    if (match(whole ? [ids.join('->'), ...ids] : ids) && lb.kill(s.id)) killed++;
  }
  return { kind: 'number', value: killed };
}
