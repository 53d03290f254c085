import { type Address, formatHostPort, parseAddress } from '../../fd/address.js';
import { VproxyError } from '../../fd/errors.js';
import type { LbListener } from '../../lb/lb-listener.js';
import { Socks5Server } from '../../lb/socks5-server.js';
import { TcpLB } from '../../lb/tcp-lb.js';
import type { SessionInfo } from '../../proxy/session.js';
import type { Command } from '../command/parse.js';
import { present } from '../command/typed.js';
import {
  detailList,
  type ListenerDetail,
  type SessionDetail,
  type Socks5ServerDetail,
  type TcpLbDetail,
} from '../details/records.js';
import { ControlError } from '../errors.js';
import type { CommandResult } from '../executor.js';
import { listening } from '../listen-errors.js';
import { type ListenerEntry, mustBeNew, mustGet, type ResourceStore } from '../store.js';
import { unsupportedAction } from './unsupported.js';

// tcp-lb, and what can be inspected inside one: server-sock, connection, session, bytes.

const DONE: CommandResult = { kind: 'done' };

/** With `cert-key` names, a tls listener gets its certificate from those resources. */
function listenAddress(
  store: ResourceStore,
  address: string,
  certKeys: readonly string[],
): Address {
  // Checked against the registry now: an unknown scheme or option is refused
  // here, naming itself, instead of failing inside the listen.
  const parsed = store.registry.parse(address);
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

type ListenerType = 'tcp-lb' | 'socks5-server';

/** tcp-lb and socks5-server: the same life cycle, different listeners. */
export async function listenerCommand(store: ResourceStore, cmd: Command): Promise<CommandResult> {
  const type = cmd.type as ListenerType;
  const map: Map<string, ListenerEntry<LbListener>> = type === 'tcp-lb'
    ? store.tcpLbs
    : store.socks5Servers;
  const name = cmd.name ?? '';
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...map.keys()] };
    case 'list-detail':
      if (type === 'tcp-lb')
        return detailList(
          'tcp-lb',
          [...store.tcpLbs].map(([n, e]): TcpLbDetail => ({ ...describe(n, e), protocol: 'tcp' })),
        );
      return detailList(
        'socks5-server',
        [...store.socks5Servers].map(
          ([n, e]): Socks5ServerDetail => ({
            ...describe(n, e),
            'allow-non-backend': e.lb.allowNonBackend,
            'allow-udp': e.lb.udp,
            'max-associations': e.lb.maxAssociations,
            'udp-timeout': e.lb.udpIdleTimeoutMs,
            'udp-associations': e.lb.associations,
            'udp-associations-refused': e.lb.associationsRefused,
          }),
        ),
      );
    case 'add': {
      mustBeNew(map, type, name);
      // Every default is filled in by the parser, from the model's one rule.
      const v = present(
        cmd.values,
        'address',
        'upstream',
        'acceptor-elg',
        'event-loop-group',
        'security-group',
        'timeout',
        'fin-timeout',
        'retries',
        'in-buffer-size',
        'out-buffer-size',
        'access-log',
      );
      const upstream = mustGet(store.upstreams, 'upstream', v.upstream);
      const acceptorElg = v['acceptor-elg'];
      const elg = v['event-loop-group'];
      mustGet(store.elgs, 'event-loop-group', acceptorElg);
      const group = mustGet(store.elgs, 'event-loop-group', elg);
      const certKeys = cmd.values['cert-key'] ?? [];
      const accessLog = v['access-log'];
      const common = {
        name,
        address: listenAddress(store, v.address, certKeys),
        upstream,
        registry: store.registry,
        securityGroup: store.securityGroup(v['security-group']),
        idleTimeoutMs: v.timeout,
        finTimeoutMs: v['fin-timeout'],
        retries: v.retries,
        inBufferSize: v['in-buffer-size'],
        outBufferSize: v['out-buffer-size'],
        // Failures with their causes go to the daemon's log (the engine names
        // the listener in each line); sessions too, when asked for.
        logger: store.logger,
        ...(accessLog ? { accessLog: store.logger } : {}),
      };
      const entry = {
        address: v.address,
        upstream: upstream.name,
        acceptorElg,
        elg,
        certKeys,
        accessLog,
      };
      const address = v.address;
      if (type === 'tcp-lb') {
        // On a group of worker processes the listener runs in them (src/workers); else here.
        const lb = await listening(
          address,
          async () => (await store.workers?.startTcpLb(group, common)) ?? TcpLB.start(common),
        );
        store.tcpLbs.set(name, { ...entry, lb });
      } else {
        const allowNonBackend = cmd.flags.includes('allow-non-backend');
        const udp = cmd.flags.includes('allow-udp');
        const limits = present(cmd.values, 'max-associations', 'udp-timeout');
        const options = {
          ...common,
          allowNonBackend,
          udp,
          maxAssociations: limits['max-associations'],
          udpIdleTimeoutMs: limits['udp-timeout'],
        };
        const lb = await listening(
          address,
          async () =>
            (await store.workers?.startSocks5(group, options)) ?? Socks5Server.start(options),
        );
        // No users yet: no authentication until `add socks5-user`.
        store.socks5Servers.set(name, { ...entry, lb, auth: { users: new Map() } });
      }
      return DONE;
    }
    case 'update': {
      const entry = mustGet(map, type, name);
      const { lb } = entry;
      const v = cmd.values;
      if (v['access-log'] !== undefined) {
        entry.accessLog = v['access-log'];
        lb.setAccessLog(entry.accessLog ? store.logger : undefined);
      }
      lb.update({
        ...(v.timeout === undefined ? {} : { idleTimeoutMs: v.timeout }),
        ...(v['fin-timeout'] === undefined ? {} : { finTimeoutMs: v['fin-timeout'] }),
        ...(v.retries === undefined ? {} : { retries: v.retries }),
        ...(v['in-buffer-size'] === undefined ? {} : { inBufferSize: v['in-buffer-size'] }),
        ...(v['out-buffer-size'] === undefined ? {} : { outBufferSize: v['out-buffer-size'] }),
        ...(v['security-group'] === undefined
          ? {}
          : { securityGroup: store.securityGroup(v['security-group']) }),
      });
      if (lb instanceof Socks5Server) {
        const f = cmd.flags;
        if (f.includes('allow-non-backend') || f.includes('deny-non-backend'))
          lb.allowNonBackend = f.includes('allow-non-backend');
        if (f.includes('allow-udp') || f.includes('deny-udp')) lb.udp = f.includes('allow-udp');
        // On worker processes each setter sends the new limit to every worker.
        if (v['max-associations'] !== undefined) lb.maxAssociations = v['max-associations'];
        if (v['udp-timeout'] !== undefined) lb.udpIdleTimeoutMs = v['udp-timeout'];
      }
      return DONE;
    }
    case 'remove':
    case 'force-remove': {
      const { lb } = mustGet(map, type, name);
      map.delete(name);
      await lb.close();
      return DONE;
    }
    default:
      return unsupportedAction(cmd);
  }
}

function describe(name: string, e: ListenerEntry<LbListener>): ListenerDetail {
  const s = e.lb.settings();
  return {
    name,
    'acceptor-elg': e.acceptorElg,
    'event-loop-group': e.elg,
    bind: e.lb.serverSockId(),
    address: e.address,
    upstream: e.upstream,
    timeout: s.idleTimeoutMs,
    'fin-timeout': s.finTimeoutMs,
    retries: s.retries,
    'access-log': e.accessLog ? 'on' : 'off',
    'in-buffer-size': s.inBufferSize,
    'out-buffer-size': s.outBufferSize,
    'security-group': s.securityGroup.name,
    ...(e.certKeys.length > 0 ? { 'cert-key': e.certKeys.join(',') } : {}),
  };
}

/** Connection ids as the reference prints them: accepted `remote/local`, outbound `local/remote`. */
function connectionIds(lb: LbListener, s: SessionInfo): [string, string | null] {
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
      throw new ControlError(
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
  const lbRef = cmd.location.find((r) => r.type === 'tcp-lb' || r.type === 'socks5-server');
  if (!lbRef) {
    const within = cmd.location[0];
    throw new ControlError(
      'ERR_COMMAND_INVALID',
      `${cmd.type}${within ? ` in ${within.type} ${within.name}` : ''}: say which listener` +
        ' (in tcp-lb|socks5-server <name>)',
    );
  }
  const { lb } =
    lbRef.type === 'tcp-lb'
      ? mustGet(store.tcpLbs, 'tcp-lb', lbRef.name)
      : mustGet(store.socks5Servers, 'socks5-server', lbRef.name);
  const sessions = lb.sessions();
  const detail = cmd.action === 'list-detail';
  switch (cmd.type) {
    case 'server-sock':
      return detail
        ? detailList('server-sock', [{ name: lb.serverSockId() }])
        : { kind: 'number', value: 1 };
    case 'session': {
      if (cmd.action === 'force-remove')
        return killWhere(lb, sessions, (ids) => ids.some(matcher(cmd.name ?? '')), true);
      if (!detail) return { kind: 'number', value: sessions.length };
      return detailList(
        'session',
        sessions.map((s): SessionDetail => {
          const [client, backend] = connectionIds(lb, s);
          return backend === null ? { client } : { client, backend };
        }),
      );
    }
    case 'connection': {
      const ids = sessions.flatMap((s) =>
        connectionIds(lb, s).filter((x): x is string => x !== null),
      );
      if (cmd.action === 'force-remove') {
        const match = matcher(cmd.name ?? '');
        return killWhere(lb, sessions, (pair) => pair.some(match), false);
      }
      return detail
        ? detailList(
            'connection',
            ids.map((id) => ({ name: id })),
          )
        : { kind: 'number', value: ids.length };
    }
    default: {
      const sock = cmd.location[0];
      if (sock?.type === 'connection') return connectionBytes(lb, sessions, cmd, sock.name);
      // bytes-in / bytes-out / accepted-conn-count of the listener (in server-sock X in tcp-lb Y).
      const stats = lb.stats();
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
  lb: LbListener,
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

/**
 * bytes-in / bytes-out of one connection, as seen from the listener: the
 * client connection receives what the client sent, the backend connection
 * receives what the backend sent.
 */
function connectionBytes(
  lb: LbListener,
  sessions: readonly SessionInfo[],
  cmd: Command,
  id: string,
): CommandResult {
  for (const s of sessions) {
    const [client, backend] = connectionIds(lb, s);
    if (id !== client && id !== backend) continue;
    const fromPeer = id === client ? s.bytesFromClient : s.bytesToClient;
    const toPeer = id === client ? s.bytesToClient : s.bytesFromClient;
    return { kind: 'number', value: cmd.type === 'bytes-in' ? fromPeer : toPeer };
  }
  throw new VproxyError('ERR_NOT_FOUND', `Cannot find connection with name ${id}.`);
}
