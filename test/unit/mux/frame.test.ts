import { describe, expect, it } from 'vitest';
import {
  encodeFin,
  encodeFrame,
  encodeGoaway,
  encodePing,
  encodeRst,
  encodeSyn,
  encodeWindowUpdate,
  Flag,
  FrameType,
  frameHeader,
  WireError,
  wireErrorName,
} from '../../../transports/mux/frame.js';
import { FrameParser } from '../../../transports/mux/parser.js';
import { encodeSettings, parseSettings } from '../../../transports/mux/settings.js';
import { type Event, Recorder } from './recorder.js';

// Every message of spec §2.2, built by hand from the table, against the encoder
// and the parser. Frame integers are big endian.

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const LIMITS = { maxData: 65_536, maxGzip: 65_536 };

function parse(bytes: Buffer): Event[] {
  const r = new Recorder();
  new FrameParser(r, LIMITS).push(bytes);
  return r.events;
}

describe('spec §2.2 message bytes', () => {
  const id = hex('0102030405060708');
  const cases: { name: string; bytes: Buffer; encoded: Buffer; event: Event }[] = [
    {
      name: 'HANDSHAKE (empty SETTINGS)',
      bytes: hex('000000 04 00 00000000'),
      encoded: encodeSettings(null),
      event: { t: 'settings', settings: null },
    },
    {
      name: 'KEEPALIVE (PING)',
      bytes: Buffer.concat([hex('000008 06 00 00000000'), id]),
      encoded: encodePing(false, id),
      event: { t: 'ping', ack: false, payload: id.toString('hex') },
    },
    {
      name: 'KEEPALIVE-ACK (PING + ACK)',
      bytes: Buffer.concat([hex('000008 06 01 00000000'), id]),
      encoded: encodePing(true, id),
      event: { t: 'ping', ack: true, payload: id.toString('hex') },
    },
    {
      name: 'SYN / SYN-ACK (empty HEADERS) on stream 1',
      bytes: hex('000000 01 00 00000001'),
      encoded: encodeSyn(1),
      event: { t: 'headers', id: 1, flags: 0 },
    },
    {
      name: 'PSH (DATA) on stream 1',
      bytes: hex('000003 00 00 00000001 616263'),
      encoded: Buffer.concat([frameHeader(3, FrameType.DATA, 0, 1), Buffer.from('abc')]),
      event: { t: 'data', id: 1, flags: 0, payload: '616263' },
    },
    {
      name: 'FIN (empty DATA + END_STREAM) on stream 1',
      bytes: hex('000000 00 01 00000001'),
      encoded: encodeFin(1),
      event: { t: 'data', id: 1, flags: Flag.END_STREAM, payload: '' },
    },
    {
      name: 'PSH-FIN (DATA with payload + END_STREAM)',
      bytes: hex('000002 00 01 00000003 6869'),
      encoded: encodeFrame(FrameType.DATA, Flag.END_STREAM, 3, Buffer.from('hi')),
      event: { t: 'data', id: 3, flags: Flag.END_STREAM, payload: '6869' },
    },
    {
      name: 'RST (empty HEADERS + END_STREAM) on stream 1',
      bytes: hex('000000 01 01 00000001'),
      encoded: encodeRst(1),
      event: { t: 'headers', id: 1, flags: Flag.END_STREAM },
    },
    {
      name: 'SHUTDOWN (GOAWAY, the reference form)',
      bytes: Buffer.concat([hex('00000a 07 00 00000000 ffffffff ffffffff'), Buffer.from('no')]),
      encoded: encodeGoaway(0xffff_ffff, 0xffff_ffff, 'no'),
      event: { t: 'goaway', last: 0xffff_ffff, code: 0xffff_ffff, reason: 'no' },
    },
    {
      name: 'GOAWAY with a last stream id and PROTOCOL_ERROR',
      bytes: Buffer.concat([hex('00000b 07 00 00000000 00000005 00000001'), Buffer.from('bad')]),
      encoded: encodeGoaway(5, WireError.PROTOCOL_ERROR, 'bad'),
      event: { t: 'goaway', last: 5, code: 1, reason: 'bad' },
    },
    {
      name: 'WINDOW_UPDATE (our addition, RFC 7540 layout) on stream 3',
      bytes: hex('000004 08 00 00000003 00010000'),
      encoded: encodeWindowUpdate(3, 65_536),
      event: { t: 'window', id: 3, increment: 65_536 },
    },
    {
      name: 'SETTINGS with entries (our handshake)',
      bytes: hex('000012 04 00 00000000 0003 00000400 0004 00040000 0005 00010000'),
      encoded: encodeSettings({ maxStreams: 1024, window: 262_144, maxFrame: 65_536 }),
      event: { t: 'settings', settings: { maxStreams: 1024, window: 262_144, maxFrame: 65_536 } },
    },
  ];

  it.each(cases)('$name: encoder emits the table bytes', ({ bytes, encoded }) => {
    expect(encoded.toString('hex')).toBe(bytes.toString('hex'));
  });

  it.each(cases)('$name: parser decodes the table bytes', ({ bytes, event }) => {
    expect(parse(bytes)).toEqual([event]);
  });

  it('a gzip DATA payload is delivered whole, with its flag', () => {
    const bytes = hex('000004 00 04 00000001 deadbeef');
    expect(parse(bytes)).toEqual([{ t: 'data', id: 1, flags: Flag.GZIP, payload: 'deadbeef' }]);
  });

  it('a PING shorter than 8 bytes is skipped, as the reference does', () => {
    const bytes = Buffer.concat([hex('000003 06 00 00000000 010203'), encodeSyn(1)]);
    expect(parse(bytes)).toEqual([{ t: 'headers', id: 1, flags: 0 }]);
  });

  it('a GOAWAY shorter than 8 bytes carries no code', () => {
    expect(parse(hex('000002 07 00 00000000 0102'))).toEqual([
      { t: 'goaway', last: 0xffff_ffff, code: 0xffff_ffff, reason: '' },
    ]);
  });

  it('WINDOW_UPDATE ignores its reserved bit', () => {
    expect(parse(hex('000004 08 00 80000003 80000010'))).toEqual([
      { t: 'window', id: 3, increment: 16 },
    ]);
  });

  it('the 24-bit length and 31-bit id use every byte', () => {
    const header = frameHeader(0x12_3456, FrameType.DATA, 0, 0x7654_3210);
    expect(header.toString('hex')).toBe('1234560000' + '76543210');
  });

  it('settings: unknown ids are ignored, missing ones take the RFC 7540 defaults', () => {
    expect(parseSettings(hex('0009 00000001'))).toEqual({
      window: 65_535,
      maxFrame: 16_384,
      maxStreams: 0xffff_ffff,
    });
  });

  it('GOAWAY codes have names', () => {
    expect(wireErrorName(WireError.FLOW_CONTROL_ERROR)).toBe('FLOW_CONTROL_ERROR');
    expect(wireErrorName(0xffff_ffff)).toBe('0xffffffff');
  });
});
