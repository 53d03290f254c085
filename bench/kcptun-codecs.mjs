// Speed of the kcptun wire codecs, one at a time, no sockets: kcp-go packet crypt, FEC
// (Reed-Solomon 10/3), smux framing and snappy framing. Prints MB/s of payload per CPU
// second of this process (user + system, median of RUNS): on a shared machine that is
// steadier than wall-clock time.
//
// Run: npm run build && node bench/kcptun-codecs.mjs
// Options (env): BENCH_MS per sample (default 300), BENCH_RUNS (default 5),
//   KCPTUN_CODECS_DIST (a tsc output root other than ../dist, e.g. a scratch build).
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const ROOT = process.env.KCPTUN_CODECS_DIST
  ? pathToFileURL(`${process.env.KCPTUN_CODECS_DIST}/`).href
  : new URL('../dist/', import.meta.url).href;
const load = (p) => import(new URL(p, ROOT).href);
const crypt = await load('transports/kcpgo-crypt/index.js');
const fec = await load('transports/fec/index.js');
const smux = await load('transports/smux/index.js');
const snappy = await load('transports/snappy-frame/index.js');

const MS = Number(process.env.BENCH_MS ?? 300);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

/** Runs `step` (which returns the payload bytes it handled) repeatedly; median MB/s of CPU time. */
function measure(step) {
  const rates = [];
  for (let r = 0; r < RUNS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let bytes = 0;
    while (performance.now() - t0 < MS) bytes += step();
    const cu = process.cpuUsage(c0);
    rates.push(bytes / ((cu.user + cu.system) / 1e6) / 1e6);
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(RUNS / 2)];
}

const rows = [];
const row = (codec, what, mbps) => {
  rows.push({ codec, what, 'MB/s': Math.round(mbps) });
};

// --- packet crypt: 1300-byte payloads (an mtu-1350 datagram) ---
const key = crypt.deriveKey('bench');
const payload = randomBytes(1300);
for (const name of ['aes', 'aes-128', 'salsa20', 'none', 'aes-128-gcm']) {
  const c = crypt.createPacketCrypt(name, key);
  const sealed = c.seal(payload);
  row(
    'crypt',
    `${name} seal`,
    measure(() => {
      c.seal(payload);
      return payload.length;
    }),
  );
  row(
    'crypt',
    `${name} open`,
    measure(() => {
      c.open(sealed);
      return payload.length;
    }),
  );
}

// --- FEC 10/3 over 1300-byte KCP packets ---
const kcp = Array.from({ length: 10 }, () => randomBytes(1300));
{
  const enc = new fec.FecEncoder(10, 3);
  row(
    'fec 10/3',
    'encode (data + parity)',
    measure(() => {
      for (const k of kcp) enc.encode(k);
      return 13000;
    }),
  );
  const group = [];
  const e2 = new fec.FecEncoder(10, 3);
  const packetsFor = () => {
    const out = [];
    for (const k of kcp) {
      out.push(e2.encode(k));
      out.push(...e2.parity);
    }
    return out;
  };
  group.push(...packetsFor());
  const dec = new fec.FecDecoder(10, 3);
  let base = 0;
  const renumber = (packets, lose) =>
    packets
      .filter((_, i) => !lose.includes(i))
      .map((p, _i) => {
        const q = Buffer.from(p);
        q.writeUInt32LE(base + (p.readUInt32LE(0) % 13), 0);
        return q;
      });
  const noLoss = () => {
    for (const p of renumber(group, [])) dec.input(p);
    base += 13;
    return 13000;
  };
  row('fec 10/3', 'decode, no loss', measure(noLoss));
  const loss3 = () => {
    for (const p of renumber(group, [0, 4, 7])) dec.input(p);
    base += 13;
    return 13000;
  };
  row('fec 10/3', 'decode, 3 data shards rebuilt', measure(loss3));
}

// --- Reed-Solomon 10/3 alone: the scalar loop vs WebAssembly SIMD ---
for (const simd of [false, true]) {
  const rs = new fec.ReedSolomon(10, 3, { simd });
  const parity = Array.from({ length: 3 }, () => new Uint8Array(1300));
  row(
    'reed-solomon 10/3',
    `encode, ${simd ? 'wasm simd' : 'scalar'}`,
    measure(() => {
      rs.encode(kcp, parity, 1300);
      return 13000;
    }),
  );
  row(
    'reed-solomon 10/3',
    `rebuild 3 data shards, ${simd ? 'wasm simd' : 'scalar'}`,
    measure(() => {
      const shards = [...kcp, ...parity];
      shards[0] = null;
      shards[4] = null;
      shards[7] = null;
      rs.reconstructData(shards, 1300);
      return 13000;
    }),
  );
}

// --- smux: 32 KiB writes as PSH frames, then parsed back ---
{
  const data = randomBytes(32768);
  row(
    'smux',
    'encode PSH (32 KiB)',
    measure(() => smux.encodePush(2, 3, data).length),
  );
  const framed = Buffer.concat(Array.from({ length: 16 }, () => smux.encodePush(2, 3, data)));
  const parser = new smux.SmuxParser({ version: 2 });
  const pieces = [];
  for (let o = 0; o < framed.length; o += 1300) pieces.push(framed.subarray(o, o + 1300));
  let n = 0;
  const onFrame = (f) => {
    n += f.data ? f.data.length : 0;
  };
  row(
    'smux',
    'parse (1300-byte pieces)',
    measure(() => {
      n = 0;
      for (const p of pieces) parser.push(p, onFrame);
      return n;
    }),
  );
}

// --- snappy framing: 32 KiB writes, text-like and random ---
{
  const text = Buffer.from(
    'GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n'.repeat(600),
  ).subarray(0, 32768);
  const rnd = randomBytes(32768);
  for (const [kind, data] of [
    ['text', text],
    ['random', rnd],
  ]) {
    const enc = new snappy.SnappyFrameEncoder();
    enc.encode(Buffer.alloc(0));
    row(
      'snappy',
      `encode ${kind} 32 KiB`,
      measure(() => {
        enc.encode(data);
        return data.length;
      }),
    );
    const framed = Buffer.concat([
      snappy.STREAM_IDENTIFIER,
      new snappy.SnappyFrameEncoder().encode(data).subarray(10),
    ]);
    row(
      'snappy',
      `decode ${kind} 32 KiB`,
      measure(() => {
        const d = new snappy.SnappyFrameDecoder();
        let n = 0;
        d.push(framed, (x) => {
          n += x.length;
        });
        return n;
      }),
    );
  }
  row(
    'snappy',
    'crc32c (64 KiB)',
    measure(() => {
      snappy.crc32c(rnd);
      return rnd.length;
    }),
  );
}

console.table(rows);
