import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/**
 * A UDP relay's socket towards the target for the client `from`, made on that client's first
 * datagram (so each client keeps its own source port towards the target, as through a NAT).
 * `fresh` says it was just made: it is not connected yet, and a send now would throw.
 */
export function relayUpstream(
  upstreams: Map<string, Socket>,
  from: RemoteInfo,
  targetPort: number,
  onBack: (datagram: Buffer) => void,
): { socket: Socket; fresh: boolean } {
  const key = `${from.address}:${from.port}`;
  const known = upstreams.get(key);
  if (known !== undefined) return { socket: known, fresh: false };
  const socket = createSocket('udp4');
  socket.on('error', () => {});
  socket.on('message', onBack);
  socket.connect(targetPort, '127.0.0.1');
  upstreams.set(key, socket);
  return { socket, fresh: true };
}
