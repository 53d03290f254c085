import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DetailKind,
  type Details,
  detailKey,
  detailText,
} from '../../src/control/details/records.js';
import { DETAIL_SCHEMAS, schemaName } from '../../src/control/details/schemas.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { controllerArgs, HTTP_TOKEN, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { type Schema, validate } from '../helpers/json-schema.js';
import { closedPort, startEchoServer, stopServer } from '../helpers/net.js';
import { anyMissing, requireTool, skipNote } from '../helpers/require-tool.js';

// Issue 14 #6: REST answers objects with fields, and the daemon's own
// /api/v1/openapi.json describes every one of them. A daemon with one resource
// of every kind (and a live session) is walked through every GET route the
// document lists; each answer is validated against the document's schema, and
// each record, rendered as text, is exactly the line RESP's list-detail prints.

const redisCliTool = requireTool('redis-cli');
const missing = anyMissing(redisCliTool);
const note = skipNote(redisCliTool);

const SOCKS5_PASSWORD = 'S3cret-Zq9';
const ports = { resp: 0, http: 0, lb: 0, tls: 0, s5: 0 };
let dir: string;
let certs: TestCerts;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let daemon: RunningCli | undefined;
let client: Socket | undefined;

interface OpenApi {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Json }> }>>;
  components: { schemas: Record<string, Schema & { writeOnly?: boolean }> };
}
type Json = { 'application/json': { schema: Schema } };

async function rest(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://127.0.0.1:${ports.http}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${HTTP_TOKEN}`, 'content-type': 'application/json' },
  });
  const text = await res.text();
  return { status: res.status, json: text.length > 0 ? JSON.parse(text) : null };
}

async function resp(line: string): Promise<string[]> {
  return redisCli(ports.resp, line);
}

const SCRIPT = (): string[] => [
  'add event-loop-group elg0',
  'add event-loop el0 to event-loop-group elg0',
  'add upstream ups0',
  'add server-group sg0 timeout 3000 period 200 up 1 down 2 method wrr',
  `add server s0 to server-group sg0 address 127.0.0.1:${echo.port} weight 10`,
  'add server-group sg0 to upstream ups0 weight 10',
  'add security-group secg0 default allow',
  'add security-group-rule r0 to security-group secg0 network 127.0.0.0/8 protocol TCP port-range 1,65535 default allow',
  `add cert-key ck0 cert ${certs.cert} key ${certs.key}`,
  `add tcp-lb lb0 address 127.0.0.1:${ports.lb} upstream ups0 security-group secg0`,
  `add tcp-lb lb1 address tls://127.0.0.1:${ports.tls} upstream ups0 cert-key ck0 access-log on`,
  `add socks5-server s5 address 127.0.0.1:${ports.s5} upstream ups0 allow-non-backend`,
  `add socks5-user alice to socks5-server s5 password ${SOCKS5_PASSWORD}`,
  'add udp-lb ul0 address udp://127.0.0.1:0 upstream ups0 max-flows 100',
  // The in-process registry (no --etcd): the node delegate fills sg1 through it.
  'add server-group sg1 timeout 500 period 60000 up 1 down 2 check none',
  `add smart-node-delegate n0 service echo zone z0 address 127.0.0.1 port ${echo.port}`,
  'add smart-group-delegate g0 service echo zone z0 server-group sg1',
];

/** The parent a `{parent}` stands for, per parent type. */
function parentName(type: string): string {
  const names: Record<string, string> = {
    'event-loop-group': 'elg0',
    upstream: 'ups0',
    'server-group': 'sg0',
    'security-group': 'secg0',
    'socks5-server': 's5',
    'tcp-lb': 'lb0',
    server: 's0',
  };
  const name = names[type];
  if (name === undefined) throw new Error(`no parent fixture for ${type}`);
  return name;
}

/** The record kind a schema reference names (`#/components/schemas/TcpLb` → tcp-lb). */
function kindOf(ref: string | undefined): DetailKind {
  const kind = (Object.keys(DETAIL_SCHEMAS) as DetailKind[]).find(
    (k) => `#/components/schemas/${schemaName(k)}` === ref,
  );
  if (kind === undefined) throw new Error(`no record kind for ${ref}`);
  return kind;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-rest-json-'));
  certs = makeTestCerts();
  echo = await startEchoServer();
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await closedPort();
});

afterAll(async () => {
  client?.destroy();
  await daemon?.stop();
  await stopServer(echo.server, echo.sockets);
  certs.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing)(`REST JSON against the served OpenAPI document${note}`, () => {
  it('every GET route answers objects its schema describes, and RESP prints the same records as text', async () => {
    const { running } = await startCli(
      ['--config-dir', join(dir, 'home'), '--no-stdio', '--no-load-last', ...controllerArgs(ports)],
      /started; type/,
    );
    daemon = running;
    for (const line of SCRIPT()) expect([line, await resp(line)]).toEqual([line, ['OK']]);
    // A live session through lb0, so session, connection and server-sock list something.
    client = connect(ports.lb, '127.0.0.1');
    await once(client, 'connect');
    client.write('hello');
    await once(client, 'data');

    const doc = (await rest('/api/v1/openapi.json')).json as OpenApi;
    // No schema an answer uses holds a secret: write-only fields live in request bodies only.
    const answered = JSON.stringify(doc.components.schemas);
    expect(answered).not.toMatch(/writeOnly|password/);
    // …and the objects are closed: a record with a field more (a password, say) fails.
    expect(
      validate({ name: 'alice', password: 'x' }, { $ref: '#/components/schemas/Socks5User' }, doc),
    ).toEqual(['$: unexpected password']);

    const seen = new Set<DetailKind>();
    const bodies: string[] = [];
    const check = (path: string, status: number, body: unknown, schema: Schema | undefined) => {
      expect([path, status]).toEqual([path, 200]);
      expect(schema, `${path}: no schema in the document`).toBeDefined();
      expect([path, validate(body, schema as Schema, doc)]).toEqual([path, []]);
      bodies.push(JSON.stringify(body));
    };

    const routes = Object.keys(doc.paths).filter(
      (p) => p.startsWith('/api/v1/module/') && !p.endsWith('/{name}') && doc.paths[p]?.get,
    );
    expect(routes.length).toBeGreaterThan(15);
    for (const route of routes) {
      const [, , , , first = '', , third] = route.split('/');
      const parentType = route.includes('{parent}') ? first : undefined;
      const path = parentType ? route.replace('{parent}', parentName(parentType)) : route;
      const schema = doc.paths[route]?.get?.responses[200]?.content?.['application/json'].schema;
      const got = await rest(path);
      check(path, got.status, got.json, schema);
      const items = (got.json as { items?: Details[DetailKind][] }).items;
      if (items === undefined) continue; // a counter: {value}
      const kind = kindOf(schema?.properties?.items?.items?.$ref);
      // The socks5-server has no session; every kind has one route with records.
      if (items.length > 0) seen.add(kind);

      // One source: each record rendered as text is RESP's line for it.
      const type = parentType ? (third ?? '') : first;
      const command = `list-detail ${type}${parentType ? ` in ${parentType} ${parentName(parentType)}` : ''}`;
      const text = items.flatMap((r) => detailText(kind, r));
      expect([command, await resp(command)]).toEqual([command, text]);

      // And each one by name.
      const itemRoute = doc.paths[`${route}/{name}`]?.get;
      if (itemRoute === undefined) continue;
      for (const record of items) {
        const one = `${path}/${encodeURIComponent(detailKey(record))}`;
        const got1 = await rest(one);
        check(
          one,
          got1.status,
          got1.json,
          itemRoute.responses[200]?.content?.['application/json'].schema,
        );
        expect(got1.json).toEqual({ item: record });
      }
      const nope = await rest(`${path}/nope`);
      expect([path, nope.status]).toEqual([path, 404]);
      expect(validate(nope.json, { $ref: '#/components/schemas/Error' }, doc)).toEqual([]);
    }

    // The controllers are listed through the command route, with records.
    const commandSchema = doc.paths['/api/v1/command']?.post?.responses[200]?.content?.[
      'application/json'
    ].schema as Schema;
    for (const kind of ['resp-controller', 'http-controller'] as const) {
      const got = await rest('/api/v1/command', {
        method: 'POST',
        body: JSON.stringify({ command: `list-detail ${kind}` }),
      });
      check(kind, got.status, got.json, commandSchema);
      const { items, records } = got.json as { items: string[]; records: Details[typeof kind][] };
      expect(records).toEqual([
        {
          name: kind,
          address: `127.0.0.1:${kind === 'resp-controller' ? ports.resp : ports.http}`,
        },
      ]);
      expect(records.map((r) => detailText(kind, r))).toEqual(items);
      expect(await resp(`list-detail ${kind}`)).toEqual(items);
      seen.add(kind);
    }

    // One of every kind went through a schema.
    expect([...seen].sort()).toEqual((Object.keys(DETAIL_SCHEMAS) as DetailKind[]).sort());
    // A few fields, typed: numbers are numbers, flags are booleans.
    const lb1 = (await rest('/api/v1/module/tcp-lb/lb1')).json as { item: Details['tcp-lb'] };
    expect(lb1.item).toMatchObject({
      address: `tls://127.0.0.1:${ports.tls}`,
      'cert-key': 'ck0',
      'access-log': 'on',
      timeout: 900000,
      protocol: 'tcp',
    });
    const s5 = (await rest('/api/v1/module/socks5-server/s5')).json as {
      item: Details['socks5-server'];
    };
    expect(s5.item['allow-non-backend']).toBe(true);
    const rule = (await rest('/api/v1/module/security-group/secg0/security-group-rule/r0')).json;
    expect(rule).toEqual({
      item: {
        name: 'r0',
        default: 'allow',
        network: '127.0.0.0/8',
        protocol: 'tcp',
        'port-range': '1,65535',
      },
    });
    // No answer shows a secret.
    expect(bodies.join('\n')).not.toContain(SOCKS5_PASSWORD);
  });

  it('a GET answer, its read-only fields dropped, is a body POST accepts (same keys)', async () => {
    const got = (await rest('/api/v1/module/security-group/secg0/security-group-rule/r0')).json as {
      item: Record<string, unknown>;
    };
    const created = await rest('/api/v1/module/security-group/secg0/security-group-rule', {
      method: 'POST',
      body: JSON.stringify({ ...got.item, name: 'r1', network: '10.0.0.0/8' }),
    });
    expect(created).toEqual({ status: 201, json: { ok: true } });
    expect((await rest('/api/v1/module/security-group/secg0/security-group-rule/r1')).json).toEqual(
      { item: { ...got.item, name: 'r1', network: '10.0.0.0/8' } },
    );
    const lb = (await rest('/api/v1/module/tcp-lb/lb0')).json as { item: Record<string, unknown> };
    const { bind: _bind, ...writable } = lb.item;
    const port = await closedPort();
    expect(
      await rest('/api/v1/module/tcp-lb', {
        method: 'POST',
        body: JSON.stringify({ ...writable, name: 'lb2', address: `127.0.0.1:${port}` }),
      }),
    ).toEqual({ status: 201, json: { ok: true } });
    const copy = (await rest('/api/v1/module/tcp-lb/lb2')).json as {
      item: Record<string, unknown>;
    };
    expect(copy.item).toEqual({
      ...lb.item,
      name: 'lb2',
      address: `127.0.0.1:${port}`,
      bind: `127.0.0.1:${port}`,
    });
  });
});
