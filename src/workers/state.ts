import { formatCidr } from '../lb/cidr.js';
import type { ListenerSettings } from '../lb/lb-listener.js';
import { SecurityGroup } from '../lb/security-group.js';
import { ServerGroup } from '../lb/server-group.js';
import type { Upstream } from '../lb/upstream.js';
import type { ListenerState, MemberState } from './protocol.js';

/**
 * The state a worker's copy of a listener runs with, read from the main
 * process's resources: settings, security group rules, and the upstream with
 * each server's UP/DOWN as main's health checks see it. Plain data, so two
 * states compare by their JSON and only a change is sent.
 */
export function listenerState(
  settings: ListenerSettings,
  accessLog: boolean,
  upstream: Upstream,
): ListenerState {
  const sg = settings.securityGroup;
  return {
    settings: {
      idleTimeoutMs: settings.idleTimeoutMs,
      finTimeoutMs: settings.finTimeoutMs,
      inBufferSize: settings.inBufferSize,
      outBufferSize: settings.outBufferSize,
      retries: settings.retries,
      accessLog,
    },
    securityGroup: {
      name: sg.name,
      defaultAction: sg.defaultAction,
      rules: sg.rules().map((r) => ({
        name: r.name,
        network: formatCidr(r.network),
        protocol: r.protocol,
        ports: { min: r.ports.min, max: r.ports.max },
        action: r.action,
      })),
    },
    upstream: {
      name: upstream.name,
      members: upstream.members().flatMap((m): MemberState[] => {
        // Only server groups exist in an upstream the command language builds.
        if (!(m.group instanceof ServerGroup)) return [];
        const g = m.group;
        return [
          {
            group: {
              name: g.name,
              method: g.method,
              servers: g.servers().map((s) => ({
                name: s.name,
                address: s.addressText,
                weight: s.weight,
                up: s.healthy,
              })),
            },
            weight: m.weight,
            hosts: m.hosts,
            isDefault: m.isDefault,
          },
        ];
      }),
    },
  };
}

/** A worker's security group from its state (rebuilt when the state changes). */
export function securityGroupOf(state: ListenerState['securityGroup']): SecurityGroup {
  if (state.name === '(allow-all)' && state.rules.length === 0) return SecurityGroup.allowAll();
  const sg = new SecurityGroup(state.name, state.defaultAction);
  for (const r of state.rules) sg.addRule(r);
  return sg;
}
