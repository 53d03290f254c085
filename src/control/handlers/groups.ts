import { parseAddress } from '../../fd/address.js';
import { VproxyError } from '../../fd/errors.js';
import type { HealthCheckConfig } from '../../lb/health-config.js';
import { ServerGroup } from '../../lb/server-group.js';
import { Upstream } from '../../lb/upstream.js';
import { registrySource } from '../../mesh/sourced.js';
import type { Command } from '../command/parse.js';
import { DEFAULT_WEIGHT } from '../command/resources.js';
import { detailList, type ServerGroupDetail } from '../details/records.js';
import { ControlError } from '../errors.js';
import type { CommandResult } from '../executor.js';
import { mustBeNew, mustGet, type ResourceStore } from '../store.js';
import { unsupportedAction } from './unsupported.js';

// upstream, server-group (top level and inside an upstream), server.

const DONE: CommandResult = { kind: 'done' };

/** The command's health check over `base` (the group's current one on update). */
function healthConfig(cmd: Command, base: HealthCheckConfig | undefined): HealthCheckConfig {
  const v = cmd.values;
  const num = (value: number | undefined, fallback: number | undefined, name: string): number => {
    if (value !== undefined) return value;
    if (fallback === undefined)
      throw new ControlError('ERR_COMMAND_INVALID', `missing argument ${name}`);
    return fallback;
  };
  const check = v.check ?? base?.check;
  if (check === undefined) throw new ControlError('ERR_COMMAND_INVALID', 'missing argument check');
  return {
    timeoutMs: num(v.timeout, base?.timeoutMs, 'timeout'),
    periodMs: num(v.period, base?.periodMs, 'period'),
    up: num(v.up, base?.up, 'up'),
    down: num(v.down, base?.down, 'down'),
    check,
  };
}

/** A param as written, or its rule's default (what a saved config repeats). */
function written(cmd: Command, param: 'check' | 'event-loop-group'): string {
  return cmd.params[param] ?? cmd.rule.params?.find((r) => r.param === param)?.default ?? '';
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
    case 'remove':
    case 'force-remove': {
      mustGet(store.upstreams, 'upstream', name(cmd));
      store.upstreams.delete(name(cmd));
      return DONE;
    }
    default:
      return unsupportedAction(cmd);
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
      const elgName = written(cmd, 'event-loop-group');
      const check = written(cmd, 'check');
      const group = new ServerGroup({
        name: name(cmd),
        ...(cmd.values.method === undefined ? {} : { method: cmd.values.method }),
        healthCheck: healthConfig(cmd, undefined),
        registry: store.registry,
        eventLoopGroup: mustGet(store.elgs, 'event-loop-group', elgName),
      });
      store.serverGroups.set(name(cmd), { group, check, elg: elgName });
      return DONE;
    }
    case 'update': {
      const entry = mustGet(store.serverGroups, 'server-group', name(cmd));
      if (cmd.values.method !== undefined) entry.group.method = cmd.values.method;
      if (cmd.values.timeout !== undefined || cmd.values.check !== undefined) {
        entry.group.setHealthCheck(healthConfig(cmd, entry.group.healthCheck));
        entry.check = cmd.params.check ?? entry.check;
      }
      return DONE;
    }
    case 'remove':
    case 'force-remove':
      return removeGroup(store, cmd);
    default:
      return unsupportedAction(cmd);
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
      ups.add(entry.group, { weight: cmd.values.weight ?? DEFAULT_WEIGHT });
      return DONE;
    }
    case 'update':
      memberOf(ups, name(cmd));
      ups.update(name(cmd), { weight: cmd.values.weight ?? DEFAULT_WEIGHT });
      return DONE;
    case 'remove':
    case 'force-remove':
      memberOf(ups, name(cmd));
      ups.remove(name(cmd));
      return DONE;
    default:
      return unsupportedAction(cmd);
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
        /^udp:\/\//i.test(cmd.values.address ?? '')
          ? parseAddress(cmd.values.address ?? '')
          : store.registry.parse(cmd.values.address ?? ''),
        cmd.values.weight ?? DEFAULT_WEIGHT,
      );
      return DONE;
    case 'update':
      group.setWeight(name(cmd), cmd.values.weight ?? DEFAULT_WEIGHT);
      return DONE;
    case 'remove':
    case 'force-remove':
      group.remove(name(cmd));
      return DONE;
    default:
      return unsupportedAction(cmd);
  }
}
