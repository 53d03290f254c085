import { parseAddress } from '../../fd/address.js';
import { VproxyError } from '../../fd/errors.js';
import type { CheckSpec, HealthCheckConfig, StatusExpectation } from '../../lb/health-config.js';
import type { MethodName } from '../../lb/selection-method.js';
import { ServerGroup } from '../../lb/server-group.js';
import { Upstream } from '../../lb/upstream.js';
import { registrySource } from '../../mesh/sourced.js';
import type { Command } from '../command/parse.js';
import { detailList, type ServerGroupDetail } from '../details/records.js';
import type { CommandResult } from '../executor.js';
import { mustBeNew, mustGet, type ResourceStore } from '../store.js';

// upstream, server-group (top level and inside an upstream), server.

const DONE: CommandResult = { kind: 'done' };

/** `tcp`, `none`, `udp`, `udp:HEX`, `http`, `http:METHOD`, `http:METHOD:/path`, `http:METHOD:/path:STATUS`. */
export function parseCheck(text: string): CheckSpec {
  if (text === 'tcp' || text === 'none' || text === 'udp') return { kind: text };
  if (text.startsWith('udp:')) return { kind: 'udp', payload: text.slice(4) };
  const [, method, path, status] = text.split(':');
  return {
    kind: 'http',
    ...(method === undefined ? {} : { method }),
    ...(path === undefined ? {} : { path }),
    ...(status === undefined ? {} : { expect: [Number(status) as StatusExpectation] }),
  };
}

function healthConfig(
  cmd: Command,
  base: HealthCheckConfig | undefined,
  check: string,
): HealthCheckConfig {
  const p = cmd.params;
  const num = (v: string | undefined, fallback: number | undefined, name: string): number => {
    if (v !== undefined) return Number(v);
    if (fallback === undefined)
      throw new VproxyError('ERR_COMMAND_INVALID', `missing argument ${name}`);
    return fallback;
  };
  return {
    timeoutMs: num(p.timeout, base?.timeoutMs, 'timeout'),
    periodMs: num(p.period, base?.periodMs, 'period'),
    up: num(p.up, base?.up, 'up'),
    down: num(p.down, base?.down, 'down'),
    check: parseCheck(check),
  };
}

function name(cmd: Command): string {
  return cmd.name ?? '';
}

function parent(cmd: Command): string {
  return cmd.location[0]?.name ?? '';
}

export function upstreamCommand(store: ResourceStore, cmd: Command): CommandResult {
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...store.upstreams.keys()] };
    case 'list-detail':
      return detailList(
        'upstream',
        [...store.upstreams.keys()].map((n) => ({ name: n })),
      );
    case 'add':
      mustBeNew(store.upstreams, 'upstream', name(cmd));
      store.upstreams.set(name(cmd), new Upstream(name(cmd)));
      return DONE;
    default: {
      mustGet(store.upstreams, 'upstream', name(cmd));
      store.upstreams.delete(name(cmd));
      return DONE;
    }
  }
}

function describeGroup(entry: {
  group: ServerGroup;
  check: string;
  elg: string;
}): ServerGroupDetail {
  const { group } = entry;
  const h = group.healthCheck;
  return {
    name: group.name,
    timeout: h.timeoutMs,
    period: h.periodMs,
    up: h.up,
    down: h.down,
    method: group.method,
    check: entry.check,
    'event-loop-group': entry.elg,
  };
}

export function serverGroupCommand(
  store: ResourceStore,
  cmd: Command,
): Promise<CommandResult> | CommandResult {
  const inUpstream = cmd.location[0]?.type === 'upstream';
  if (inUpstream) return groupInUpstream(store, cmd);
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...store.serverGroups.keys()] };
    case 'list-detail':
      return detailList(
        'server-group',
        [...store.serverGroups.values()].map((e) => describeGroup(e)),
      );
    case 'add': {
      mustBeNew(store.serverGroups, 'server-group', name(cmd));
      const elgName = cmd.params['event-loop-group'] ?? '(control-elg)';
      const check = cmd.params.check ?? 'tcp';
      const group = new ServerGroup({
        name: name(cmd),
        method: (cmd.params.method ?? 'wrr') as MethodName,
        healthCheck: healthConfig(cmd, undefined, check),
        registry: store.registry,
        eventLoopGroup: mustGet(store.elgs, 'event-loop-group', elgName),
      });
      store.serverGroups.set(name(cmd), { group, check, elg: elgName });
      return DONE;
    }
    case 'update': {
      const entry = mustGet(store.serverGroups, 'server-group', name(cmd));
      if (cmd.params.method !== undefined) entry.group.method = cmd.params.method as MethodName;
      const check = cmd.params.check ?? entry.check;
      if (cmd.params.timeout !== undefined || cmd.params.check !== undefined) {
        entry.group.setHealthCheck(healthConfig(cmd, entry.group.healthCheck, check));
        entry.check = check;
      }
      return DONE;
    }
    default:
      return removeGroup(store, cmd);
  }
}

async function removeGroup(store: ResourceStore, cmd: Command): Promise<CommandResult> {
  // No upstream holds it: the executor refused the removal otherwise (refuseIfUsed).
  const entry = mustGet(store.serverGroups, 'server-group', name(cmd));
  store.serverGroups.delete(name(cmd));
  await entry.group.close();
  return DONE;
}

/** The group's place in the upstream, or the executor's usual not-found error. */
function memberOf(ups: Upstream, groupName: string): void {
  if (!ups.get(groupName)) {
    throw new VproxyError('ERR_NOT_FOUND', `Cannot find server-group with name ${groupName}.`);
  }
}

function groupInUpstream(store: ResourceStore, cmd: Command): CommandResult {
  const ups = mustGet(store.upstreams, 'upstream', parent(cmd));
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: ups.members().map((m) => m.group.name) };
    case 'list-detail':
      return detailList(
        'upstream-server-group',
        ups.members().map((m) => {
          const entry = store.serverGroups.get(m.group.name);
          return entry
            ? { ...describeGroup(entry), weight: m.weight }
            : { name: m.group.name, weight: m.weight };
        }),
      );
    case 'add': {
      const entry = mustGet(store.serverGroups, 'server-group', name(cmd));
      if (ups.get(name(cmd))) {
        throw new VproxyError(
          'ERR_ALREADY_EXISTS',
          `Duplicated entry for server-group with ${name(cmd)}.`,
        );
      }
      ups.add(entry.group, { weight: Number(cmd.params.weight ?? 10) });
      return DONE;
    }
    case 'update':
      memberOf(ups, name(cmd));
      ups.update(name(cmd), { weight: Number(cmd.params.weight) });
      return DONE;
    default:
      memberOf(ups, name(cmd));
      ups.remove(name(cmd));
      return DONE;
  }
}

export function serverCommand(store: ResourceStore, cmd: Command): CommandResult {
  const { group } = mustGet(store.serverGroups, 'server-group', parent(cmd));
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: group.servers().map((s) => s.name) };
    case 'list-detail':
      return detailList(
        'server',
        group.servers().map((s) => {
          const source = registrySource(s)?.delegate;
          return {
            name: s.name,
            address: s.addressText,
            weight: s.weight,
            status: s.healthy ? 'UP' : 'DOWN',
            ...(source === undefined ? {} : { 'smart-group-delegate': source }),
          };
        }),
      );
    case 'add':
      // Checked against the registry now: a server with an unknown scheme or
      // option would never connect and just stay DOWN, saying nothing. A udp://
      // server (a udp-lb's backend) is only a host:port: the registry parses
      // stream schemes, and its backend sockets take no options.
      group.add(
        name(cmd),
        /^udp:\/\//i.test(cmd.params.address ?? '')
          ? parseAddress(cmd.params.address ?? '')
          : store.registry.parse(cmd.params.address ?? ''),
        Number(cmd.params.weight ?? 10),
      );
      return DONE;
    case 'update':
      group.setWeight(name(cmd), Number(cmd.params.weight));
      return DONE;
    default:
      group.remove(name(cmd));
      return DONE;
  }
}
