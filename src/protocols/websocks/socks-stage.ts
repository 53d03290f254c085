import { toEndpoint } from '../socks5/address.js';
import { Socks5Method } from '../socks5/constants.js';
import { encodeGreeting, encodeRequest } from '../socks5/messages.js';
import { maxLengthFrame } from './constants.js';

/**
 * The agent's side of the SOCKS5 stage (§3.6, §3.7), as bytes. Targets go as
 * IPv4 (ATYP 01), IPv6 (ATYP 04 — the reference mis-encoded IPv6 and failed)
 * or a domain (ATYP 03, its length in bytes, not characters). Reading the
 * server's replies is the socks5 module's replySpec, which hands surplus
 * bytes back as payload (the reference failed when a server-speaks-first
 * target's banner came in the same read as the reply).
 */
export interface TunnelSteps {
  /** The 10-byte frame header. */
  readonly frame: Buffer;
  /** `05 01 00`: one method, no authentication. */
  readonly greeting: Buffer;
  /** `05 01 00 ATYP ADDR PORT`: CONNECT. */
  readonly connect: Buffer;
}

export function tunnelSteps(host: string, port: number): TunnelSteps {
  return {
    frame: maxLengthFrame(),
    greeting: encodeGreeting([Socks5Method.NO_AUTH]),
    connect: encodeRequest('connect', toEndpoint(host, port)),
  };
}

/**
 * Strict off (the default): everything in one write right after a valid 101
 * (or at once, on a pooled connection). Strict on: the caller writes the steps
 * one at a time, waiting for each reply.
 */
export function tunnelOpening(host: string, port: number): Buffer {
  const s = tunnelSteps(host, port);
  return Buffer.concat([s.frame, s.greeting, s.connect]);
}

/**
 * The WebSocks server's SOCKS5 reply: always `05 REP 00 01 0.0.0.0 PORT` with
 * the port the client asked for, success or failure (§3.6) — the reference
 * agent reads exactly this shape.
 */
export function serverReply(code: number, requestedPort: number): Buffer {
  return Buffer.from([
    0x05,
    code & 0xff,
    0x00,
    0x01,
    0,
    0,
    0,
    0,
    (requestedPort >> 8) & 0xff,
    requestedPort & 0xff,
  ]);
}
