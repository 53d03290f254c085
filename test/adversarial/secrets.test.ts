import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerArgs, HTTP_TOKEN, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';

// Issue 10 #6 with real clients against a real daemon: no controller answer
// carries a secret it was not given (socks5 passwords in `list config`, the
// stored RESP password or HTTP token when a controller is added without one),
// and a controller added over the network cannot listen beyond loopback, even
// with an explicit password. Only the saved file (mode 0600) holds passwords.

const redisCliTool = requireTool('redis-cli');
const SECRET = 'Qx7-very-secret';
let dir: string;
let configDir: string;
let daemon: RunningCli | undefined;
const ports = { resp: 0, http: 0, s5: 0 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-secrets-'));
  configDir = join(dir, 'home');
  ports.resp = await closedPort();
  ports.http = await closedPort();
  ports.s5 = await closedPort();
});

afterAll(async () => {
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One command through the REST command endpoint: status and parsed body. */
async function rest(command: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${ports.http}/api/v1/command`, {
    method: 'POST',
    headers: { authorization: `Bearer ${HTTP_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ command }),
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function stored(kind: 'resp-password' | 'http-token'): string {
  return readFileSync(join(configDir, kind), 'utf8').trim();
}

describe.skipIf(redisCliTool.missing)(
  `secrets never reach a client${skipNote(redisCliTool)}`,
  () => {
    it('starts a daemon with a socks5 user', async () => {
      ({ running: daemon } = await startCli(
        ['--config-dir', configDir, '--no-stdio', '--no-load-last', ...controllerArgs(ports)],
        /started; type/,
      ));
      for (const line of [
        'add upstream u0',
        `add socks5-server s5 address 127.0.0.1:${ports.s5} upstream u0`,
        `add socks5-user alice to socks5-server s5 password ${SECRET}`,
      ]) {
        expect(await redisCli(ports.resp, line)).toEqual(['OK']);
      }
    });

    it('list config over RESP and REST masks socks5 passwords', async () => {
      const viaResp = await redisCli(ports.resp, 'list config');
      const viaRest = (await rest('list config')).body.lines as string[];
      for (const listing of [viaResp, viaRest]) {
        expect(listing.join('\n')).not.toContain(SECRET);
        expect(listing).toContain('add socks5-user alice to socks5-server s5 password ******');
      }
    });

    it('a masked listing cannot be loaded back as a config by mistake', async () => {
      const [reply] = await redisCli(
        ports.resp,
        'add socks5-user bob to socks5-server s5 password ******',
      );
      expect(reply).toMatch(/^ERR invalid password: .*masked/);
    });

    it('adding a controller without a secret answers without the stored secret', async () => {
      const answers = [
        ...(await redisCli(ports.resp, 'add resp-controller r1 address 127.0.0.1:0')),
        ...(await redisCli(ports.resp, 'add http-controller h1 address 127.0.0.1:0')),
        JSON.stringify((await rest('add resp-controller r2 address 127.0.0.1:0')).body),
        JSON.stringify((await rest('add http-controller h2 address 127.0.0.1:0')).body),
      ];
      expect(answers).toHaveLength(4);
      for (const answer of answers) expect(answer).toMatch(/listening on 127\.0\.0\.1:\d+/);
      const all = answers.join('\n');
      expect(all).not.toContain(stored('resp-password'));
      expect(all).not.toContain(stored('http-token'));
      expect(all).toContain(join(configDir, 'resp-password'));
      expect(all).toContain(join(configDir, 'http-token'));
      // The stored secret works for the new controller: only the answer is quiet about it.
      const r1 = answers[0]?.match(/127\.0\.0\.1:(\d+)/)?.[1];
      expect(r1).toBeDefined();
      const stdout = execFileSync('redis-cli', [
        '-p',
        String(r1),
        '-a',
        stored('resp-password'),
        '--no-auth-warning',
        'list',
        'upstream',
      ]).toString();
      expect(stdout.trim()).toBe('u0');
    });

    it('a controller added over the network stays on loopback, even with a password', async () => {
      for (const address of ['0.0.0.0:0', '[::]:0', '192.0.2.1:0']) {
        const [viaResp] = await redisCli(
          ports.resp,
          `add resp-controller x1 address ${address} password p4ss`,
        );
        expect(viaResp).toMatch(/^ERR .*only on loopback/);
        const viaRest = await rest(`add http-controller x2 address ${address} token t0k`);
        expect(viaRest.status).toBe(403);
        expect(viaRest.body).toMatchObject({ code: 'ERR_FORBIDDEN' });
      }
      expect(await redisCli(ports.resp, 'list resp-controller')).not.toContain('x1');
    });

    it('the exit save still holds the password, in a 0600 file', async () => {
      if (!daemon) throw new Error('no daemon');
      daemon.child.kill('SIGINT');
      await once(daemon.child, 'exit');
      daemon = undefined;
      const last = join(configDir, 'last');
      expect(existsSync(last)).toBe(true);
      expect(statSync(last).mode & 0o777).toBe(0o600);
      expect(readFileSync(last, 'utf8')).toContain(
        `add socks5-user alice to socks5-server s5 password ${SECRET}\n`,
      );
    });
  },
);
