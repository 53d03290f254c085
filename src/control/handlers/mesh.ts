import { createServer } from 'node:net';
import { VproxyError } from '../../fd/errors.js';
import { SmartGroupDelegate } from '../../mesh/group-delegate.js';
import { type IpType, resolveNic } from '../../mesh/nic.js';
import { SmartNodeDelegate } from '../../mesh/node-delegate.js';
import { defaultNodeId } from '../../mesh/record.js';
import type { Command } from '../command/parse.js';
import { present } from '../command/typed.js';
import {
  detailList,
  type SmartGroupDelegateDetail,
  type SmartNodeDelegateDetail,
} from '../details/records.js';
import { ControlError } from '../errors.js';
import type { CommandResult } from '../executor.js';
import {
  type GroupDelegateEntry,
  mustBeNew,
  mustGet,
  type NodeDelegateEntry,
  type ResourceStore,
} from '../store.js';
import { unsupportedAction } from './unsupported.js';

// smart-node-delegate and smart-group-delegate: the command language's face of
// src/mesh. The delegates do the work; this file turns commands into them and
// them into list-detail records.

const DONE: CommandResult = { kind: 'done' };

/**
 * The local check runs every 2 s instead of the reference's 10 s: a service
 * that asked for `port 0` starts listening after the add, and should be
 * published within seconds, not ten; one loopback connect per 2 s is cheap.
 */
const LOCAL_CHECK = { periodMs: 2000, timeoutMs: 1000 } as const;

/** The reference's `port 0`: a random port in 10000-29999 that can be bound on `host` now. */
export async function pickPort(host: string, tries = 20): Promise<number> {
  for (let i = 0; i < tries; i++) {
    const port = 10_000 + Math.floor(Math.random() * 20_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new ControlError(
    'ERR_COMMAND_INVALID',
    `no free port in 10000-29999 on ${host} after ${tries} tries: give port`,
  );
}

function nodeDetail(name: string, e: NodeDelegateEntry): SmartNodeDelegateDetail {
  const s = e.delegate.status();
  return {
    name,
    service: s.service,
    zone: s.zone,
    ...(e.nic === undefined ? {} : { nic: e.nic }),
    address: s.address,
    port: s.port,
    'ip-type': e.ipType,
    weight: s.weight,
    state: s.state,
    local: s.local,
    registry: s.registry,
    key: s.key,
    revision: s.revision,
  };
}

function groupDetail(name: string, e: GroupDelegateEntry): SmartGroupDelegateDetail {
  const s = e.delegate.status();
  return {
    name,
    service: s.service,
    zone: s.zone,
    'server-group': e.serverGroup,
    state: s.state,
    registry: s.registry,
    servers: s.servers,
    revision: s.revision,
    changes: s.changes,
    relists: s.relists,
    conflicts: s.conflicts,
  };
}

export async function nodeDelegateCommand(
  store: ResourceStore,
  cmd: Command,
): Promise<CommandResult> {
  const name = cmd.name ?? '';
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...store.nodeDelegates.keys()] };
    case 'list-detail':
      return detailList(
        'smart-node-delegate',
        [...store.nodeDelegates].map(([n, e]) => nodeDetail(n, e)),
      );
    case 'add': {
      mustBeNew(store.nodeDelegates, 'smart-node-delegate', name);
      const v = present(cmd.values, 'service', 'zone', 'ip-type', 'weight', 'port');
      const ipType: IpType = v['ip-type'];
      const common = {
        registry: store.mesh,
        service: v.service,
        zone: v.zone,
        weight: v.weight,
        name,
        logger: store.logger,
        localCheck: LOCAL_CHECK,
      };
      // The nic is resolved once, here (the reference's behaviour): the
      // address published is the one the port was picked on.
      const address = cmd.values.address ?? resolveNic(cmd.values.nic ?? '', ipType);
      const port = v.port === 0 ? await pickPort(address) : v.port;
      // The reference refuses a duplicate node: two delegates would share one
      // key, and removing either would take the other's instance away.
      const key = store.mesh.keyOf(common.service, common.zone, defaultNodeId(address, port));
      const twin = [...store.nodeDelegates].find(([, e]) => e.delegate.key === key)?.[0];
      if (twin !== undefined)
        throw new VproxyError(
          'ERR_ALREADY_EXISTS',
          `smart-node-delegate ${twin} already publishes ${key}`,
        );
      const delegate = new SmartNodeDelegate({ ...common, address, port });
      store.nodeDelegates.set(name, { delegate, nic: cmd.values.nic, ipType });
      return DONE;
    }
    case 'update':
      mustGet(store.nodeDelegates, 'smart-node-delegate', name).delegate.setWeight(
        present(cmd.values, 'weight').weight,
      );
      return DONE;
    case 'remove':
    case 'force-remove': {
      const entry = mustGet(store.nodeDelegates, 'smart-node-delegate', name);
      store.nodeDelegates.delete(name);
      await entry.delegate.close();
      return DONE;
    }
    default:
      return unsupportedAction(cmd);
  }
}

export async function groupDelegateCommand(
  store: ResourceStore,
  cmd: Command,
): Promise<CommandResult> {
  const name = cmd.name ?? '';
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...store.groupDelegates.keys()] };
    case 'list-detail':
      return detailList(
        'smart-group-delegate',
        [...store.groupDelegates].map(([n, e]) => groupDetail(n, e)),
      );
    case 'add': {
      mustBeNew(store.groupDelegates, 'smart-group-delegate', name);
      const v = present(cmd.values, 'server-group', 'service', 'zone');
      const groupName = v['server-group'];
      const { group } = mustGet(store.serverGroups, 'server-group', groupName);
      const delegate = new SmartGroupDelegate({
        registry: store.mesh,
        service: v.service,
        zone: v.zone,
        group,
        name,
        logger: store.logger,
      });
      store.groupDelegates.set(name, { delegate, serverGroup: groupName });
      return DONE;
    }
    case 'remove':
    case 'force-remove': {
      const entry = mustGet(store.groupDelegates, 'smart-group-delegate', name);
      store.groupDelegates.delete(name);
      // Takes its servers out of the group (the reference's destroy).
      await entry.delegate.close();
      return DONE;
    }
    default:
      return unsupportedAction(cmd);
  }
}
