import { formatHostPort } from '../../fd/address.js';
import { VproxyError } from '../../fd/errors.js';
import { UdpLB } from '../../lb/udp-lb.js';
import type { Command } from '../command/parse.js';
import { present } from '../command/typed.js';
import { detailList, type UdpLbDetail } from '../details/records.js';
import type { CommandResult } from '../executor.js';
import { listening } from '../listen-errors.js';
import { mustBeNew, mustGet, type ResourceStore, type UdpLbEntry } from '../store.js';
import { unsupportedAction } from './unsupported.js';

// udp-lb: a datagram listener whose flows (one per client address) go to the
// backends of an upstream. Removal of its upstream or security group is refused
// while it exists: config.ts reads the references from its `list config` line.

const DONE: CommandResult = { kind: 'done' };

export async function udpLbCommand(store: ResourceStore, cmd: Command): Promise<CommandResult> {
  const name = cmd.name ?? '';
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...store.udpLbs.keys()] };
    case 'list-detail':
      return detailList(
        'udp-lb',
        [...store.udpLbs].map(([n, e]) => describe(n, e)),
      );
    case 'add': {
      mustBeNew(store.udpLbs, 'udp-lb', name);
      const v = present(
        cmd.values,
        'address',
        'upstream',
        'security-group',
        'timeout',
        'max-flows',
      );
      const upstream = mustGet(store.upstreams, 'upstream', v.upstream);
      const address = v.address;
      if (!/^udp:\/\//i.test(address)) {
        throw new VproxyError(
          'ERR_OPTION_INVALID',
          `udp-lb ${name}: address must be udp://host:port, not ${address}`,
        );
      }
      const lb = await listening(address, () =>
        UdpLB.start({
          name,
          address,
          upstream,
          registry: store.registry,
          securityGroup: store.securityGroup(v['security-group']),
          idleTimeoutMs: v.timeout,
          maxFlows: v['max-flows'],
          logger: store.logger,
        }),
      );
      store.udpLbs.set(name, { lb, address, upstream: upstream.name });
      return DONE;
    }
    case 'update': {
      const { lb } = mustGet(store.udpLbs, 'udp-lb', name);
      const v = cmd.values;
      lb.update({
        ...(v.timeout === undefined ? {} : { idleTimeoutMs: v.timeout }),
        ...(v['max-flows'] === undefined ? {} : { maxFlows: v['max-flows'] }),
        ...(v['security-group'] === undefined
          ? {}
          : { securityGroup: store.securityGroup(v['security-group']) }),
      });
      return DONE;
    }
    case 'remove':
    case 'force-remove': {
      const { lb } = mustGet(store.udpLbs, 'udp-lb', name);
      store.udpLbs.delete(name);
      await lb.close();
      return DONE;
    }
    default:
      return unsupportedAction(cmd);
  }
}

function describe(name: string, e: UdpLbEntry): UdpLbDetail {
  const bound = e.lb.bound();
  const s = e.lb.stats();
  return {
    name,
    bind: formatHostPort(bound.host, bound.port),
    address: e.address,
    upstream: e.upstream,
    timeout: e.lb.idleTimeoutMs,
    'max-flows': e.lb.maxFlows,
    'security-group': e.lb.securityGroup.name,
    flows: s.flows,
    refused: s.refused,
  };
}
