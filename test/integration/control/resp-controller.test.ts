import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RespController } from '../../../src/control/controllers/resp-controller.js';
import { ControlError } from '../../../src/control/errors.js';
import type { CommandExecutor, CommandResult, Origin } from '../../../src/control/executor.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { readAll } from '../../helpers/net.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import { until } from '../../helpers/wait.js';

// The RESP controller driven by the real redis-cli. The executor here is a
// table of canned results: this suite is about the protocol adapter; the
// daemon e2e tests run the real executor.

const run = promisify(execFile);
const redisCliTool = requireTool('redis-cli');
const missing = redisCliTool.missing;
const note = skipNote(redisCliTool);
const seen: { line: string; origin: Origin }[] = [];
const canned: Record<string, CommandResult> = {
  'add upstream ups0': { kind: 'done' },
  'list upstream': { kind: 'list', items: ['ups0', 'ups1'] },
  'list session in tcp-lb lb0': { kind: 'list', items: [['127.0.0.1:1', '127.0.0.1:2']] },
  'list bytes-in in server-sock 1.2.3.4:1 in tcp-lb lb0': { kind: 'number', value: 1234 },
  version: { kind: 'text', text: 'vproxy-ts 0.1.0' },
  man: { kind: 'lines', lines: ['line one', 'line two'] },
};
const executor: CommandExecutor = {
  async execute(line, origin) {
    seen.push({ line, origin });
    const result = canned[line];
    if (!result)
      throw new ControlError('ERR_COMMAND_INVALID', `${line.split(' ')[0]} is not a valid action`);
    return result;
  },
};

let controller: RespController;
let baseline: string[];
let port: number;

beforeAll(async () => {
  baseline = snapshotSockets();
  controller = await RespController.start({
    name: 'resp0',
    address: '127.0.0.1:0',
    password: 's3cret',
    executor,
    registry: createDefaultRegistry(),
  });
  port = controller.address().port;
});

afterAll(async () => {
  await controller.close();
  await expectNoLeakedSockets(baseline);
});

async function cli(password: string | null, ...args: string[]): Promise<string> {
  const auth = password === null ? [] : ['-a', password, '--no-auth-warning'];
  const { stdout } = await run(redisCliTool.path, [
    '--no-raw',
    '-p',
    String(port),
    ...auth,
    ...args,
  ]);
  return stdout;
}

describe.skipIf(missing)(`RESP controller with redis-cli${note}`, () => {
  it('maps every result kind', async () => {
    expect(await cli('s3cret', 'add', 'upstream', 'ups0')).toBe('OK\n');
    expect(await cli('s3cret', 'list', 'upstream')).toBe('1) "ups0"\n2) "ups1"\n');
    expect(await cli('s3cret', 'list', 'session', 'in', 'tcp-lb', 'lb0')).toBe(
      '1) 1) "127.0.0.1:1"\n   2) "127.0.0.1:2"\n',
    );
    expect(
      await cli(
        's3cret',
        'list',
        'bytes-in',
        'in',
        'server-sock',
        '1.2.3.4:1',
        'in',
        'tcp-lb',
        'lb0',
      ),
    ).toBe('(integer) 1234\n');
    expect(await cli('s3cret', 'version')).toBe('"vproxy-ts 0.1.0"\n');
    expect(await cli('s3cret', 'man')).toBe('1) "line one"\n2) "line two"\n');
    expect(seen.every((s) => s.origin === 'resp')).toBe(true);
  });

  it('passes failures on as errors with the message', async () => {
    expect(await cli('s3cret', 'frob', 'it')).toBe('(error) ERR frob is not a valid action\n');
  });

  it('keeps argument boundaries: an argument with a space or an empty one is refused, never split', async () => {
    const ran = seen.length;
    expect(
      await cli('s3cret', 'add', 'tcp-lb', 'lb9', 'address', '127.0.0.1:80 upstream other'),
    ).toMatch(/^\(error\) ERR each argument is one word/);
    expect(await cli('s3cret', 'list', 'upstream', '')).toMatch(/^\(error\) ERR each argument/);
    expect(seen.length).toBe(ran);
    // One argument is the whole line, as a quoted shell command sends it.
    expect(await cli('s3cret', 'list upstream')).toBe('1) "ups0"\n2) "ups1"\n');
  });

  it('answers PING and COMMAND built-ins', async () => {
    expect(await cli('s3cret', 'ping')).toBe('PONG\n');
  });

  it('refuses commands without AUTH and with a wrong password, and counts them', async () => {
    const before = controller.stats().authFailures;
    expect(await cli(null, 'list', 'upstream')).toMatch(/NOAUTH Authentication required/);
    expect(await cli('wrong', 'list', 'upstream')).toMatch(/WRONGPASS|NOAUTH/);
    expect(controller.stats().authFailures).toBe(before + 1);
  });

  it('answers garbage with an error and closes the connection', async () => {
    const raw = connect(port, '127.0.0.1');
    raw.on('error', () => {});
    raw.write('*1\r\n$abc\r\n');
    const reply = await readAll(raw);
    expect(reply.toString()).toBe('-ERR invalid bulk length "abc"\r\n');
    raw.destroy();
    expect(controller.stats().protocolErrors).toBeGreaterThanOrEqual(1);
  });

  it('answers pipelined requests in order', async () => {
    const raw = connect(port, '127.0.0.1');
    raw.write('AUTH s3cret\r\nversion\r\nlist upstream\r\nPING\r\n');
    const want = '+OK\r\n$15\r\nvproxy-ts 0.1.0\r\n*2\r\n$4\r\nups0\r\n$4\r\nups1\r\n+PONG\r\n';
    let got = '';
    raw.on('data', (c: Buffer) => {
      got += c.toString();
    });
    // Read until as many bytes as the four replies take (a loaded machine can take
    // longer than any fixed sleep), then compare: out of order or wrong is still caught.
    try {
      await until('four replies', () => got.length >= want.length, 10_000);
    } finally {
      raw.destroy();
    }
    expect(got).toBe(want);
  });

  it('51 redis-cli runs leave no connection behind (issue 10 #1: each used to sit in CLOSE-WAIT)', async () => {
    for (let i = 0; i < 51; i++) expect(await cli('s3cret', 'ping')).toBe('PONG\n');
    await until('no client left', () => controller.stats().clients === 0, 10_000);
  });

  it('QUIT answers OK and closes (issue 10 #8)', async () => {
    expect(await cli('s3cret', 'quit')).toBe('OK\n');
    expect(await cli(null, 'quit')).toBe('OK\n');
  });
});
