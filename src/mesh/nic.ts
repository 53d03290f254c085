import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { MeshError } from './errors.js';

export type IpType = 'v4' | 'v6';

/**
 * The address of interface `nic` of the given family, as the reference's
 * `nic <name> ip-type v4|v6` did. For v6 a global address beats a link-local
 * one (a link-local address is useless to another host without a zone id).
 * `interfaces` is injectable for tests.
 */
export function resolveNic(
  nic: string,
  ipType: IpType = 'v4',
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string {
  const infos = interfaces[nic];
  if (infos === undefined) {
    const known = Object.keys(interfaces).join(', ');
    throw new MeshError('ERR_MESH_NIC_NOT_FOUND', `no network interface ${nic} (have: ${known})`);
  }
  const family = ipType === 'v4' ? 'IPv4' : 'IPv6';
  const candidates = infos.filter((i) => i.family === family);
  const best =
    candidates.find((i) => !(family === 'IPv6' && i.address.toLowerCase().startsWith('fe80:'))) ??
    candidates[0];
  if (best === undefined) {
    throw new MeshError(
      'ERR_MESH_NIC_NOT_FOUND',
      `network interface ${nic} has no ${ipType} address`,
    );
  }
  return best.address;
}
