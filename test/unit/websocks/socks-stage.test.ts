import { describe, expect, it } from 'vitest';
import { FrameReader } from '../../../src/protocols/frame-reader.js';
import { replySpec } from '../../../src/protocols/socks5/index.js';
import { serverReply, tunnelOpening, tunnelSteps } from '../../../src/protocols/websocks/index.js';

const hex = (b: Buffer) => b.toString('hex');

describe('SOCKS5 stage bytes (§3.6, §3.7)', () => {
  it('opens with frame, greeting and CONNECT in one write (strict off)', () => {
    expect(hex(tunnelOpening('example.com', 443))).toBe(
      `827f7fffffffffffffff050100050100030b${Buffer.from('example.com').toString('hex')}01bb`,
    );
  });

  it('encodes IPv4, IPv6 (the reference failed) and UTF-8 domains by byte length', () => {
    expect(hex(tunnelSteps('10.0.0.1', 80).connect)).toBe('050100010a0000010050');
    expect(hex(tunnelSteps('2001:db8::1', 443).connect)).toBe(
      `05010004${'20010db8000000000000000000000001'}01bb`,
    );
    const domain = 'bücher.example';
    const connect = tunnelSteps(domain, 80).connect;
    expect(connect[4]).toBe(Buffer.byteLength(domain));
    expect(connect[4]).not.toBe(domain.length);
  });

  it('gives the steps separately for strict mode', () => {
    const s = tunnelSteps('a.example', 1);
    expect([hex(s.frame), hex(s.greeting)]).toEqual(['827f7fffffffffffffff', '050100']);
  });

  it('builds the server reply with the requested port, and the agent keeps a banner after it', () => {
    const reply = serverReply(0x00, 22);
    expect(hex(reply)).toBe('05000001000000000016');
    expect(hex(serverReply(0x02, 443))).toBe('050200010000000001bb');
    const banner = Buffer.from('SSH-2.0-OpenSSH_9.6\r\n');
    const reader = new FrameReader(replySpec);
    const used = reader.feed(Buffer.concat([reply, banner]));
    expect(reader.done).toBe(true);
    expect(used).toBe(10);
  });
});
