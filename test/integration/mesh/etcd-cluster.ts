import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { get as getTls } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from '../../helpers/net.js';

// A real etcd cluster on loopback for the mesh tests: N members, each with its
// own data dir under one temp dir, free client and peer ports. Members can be
// stopped (SIGKILL, as a crash) and started again on the same data. `close()`
// kills every child and removes the data; call it from afterAll.

interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  child: ChildProcess | undefined;
}

/** Serve clients over TLS with this certificate; with `clientCa`, require client certificates it signed. */
export interface EtcdTls {
  readonly cert: string;
  readonly key: string;
  readonly clientCa?: string;
}

export class EtcdCluster {
  readonly #bin: string;
  readonly #tls: EtcdTls | undefined;
  readonly #dir: string;
  readonly #members: Member[];

  private constructor(bin: string, dir: string, members: Member[], tls: EtcdTls | undefined) {
    this.#bin = bin;
    this.#tls = tls;
    this.#dir = dir;
    this.#members = members;
  }

  static async start(bin: string, size = 3, tls?: EtcdTls): Promise<EtcdCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'vproxy-etcd-'));
    const members: Member[] = [];
    for (let i = 1; i <= size; i++) {
      members.push({
        name: `m${i}`,
        clientPort: await closedPort(),
        peerPort: await closedPort(),
        dataDir: join(dir, `m${i}`),
        child: undefined,
      });
    }
    const cluster = new EtcdCluster(bin, dir, members, tls);
    try {
      for (let i = 0; i < size; i++) cluster.#spawn(i);
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  get endpoints(): string[] {
    const scheme = this.#tls === undefined ? 'http' : 'https';
    return this.#members.map((m) => `${scheme}://127.0.0.1:${m.clientPort}`);
  }

  #spawn(i: number): void {
    const m = this.#members[i] as Member;
    const initialCluster = this.#members
      .map((p) => `${p.name}=http://127.0.0.1:${p.peerPort}`)
      .join(',');
    const client = `${this.#tls === undefined ? 'http' : 'https'}://127.0.0.1:${m.clientPort}`;
    const tls = this.#tls;
    const tlsArgs =
      tls === undefined
        ? []
        : [
            ...['--cert-file', tls.cert, '--key-file', tls.key],
            ...(tls.clientCa === undefined
              ? []
              : ['--client-cert-auth', '--trusted-ca-file', tls.clientCa]),
          ];
    const peer = `http://127.0.0.1:${m.peerPort}`;
    m.child = spawn(
      this.#bin,
      [
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        'vproxy-mesh-test',
        // Quick elections: a restarted quorum has a leader within about a second.
        '--heartbeat-interval',
        '100',
        '--election-timeout',
        '700',
        '--logger',
        'zap',
        '--log-level',
        'error',
        ...tlsArgs,
      ],
      { stdio: 'ignore' },
    );
  }

  /** SIGKILL member i (a crash; its data stays). */
  async stop(i: number): Promise<void> {
    const m = this.#members[i] as Member;
    const child = m.child;
    m.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** Start member i again on its data. */
  restart(i: number): void {
    if (this.#members[i]?.child === undefined) this.#spawn(i);
  }

  /** GET /health of member i: true when it has a leader and is serving. */
  async healthy(i: number): Promise<boolean> {
    const m = this.#members[i] as Member;
    return new Promise((resolve) => {
      // Over TLS the probe does not verify (it asks "is it up", not "is it etcd").
      const fetch = this.#tls === undefined ? get : getTls;
      const tls = this.#tls;
      const req = fetch(
        {
          host: '127.0.0.1',
          port: m.clientPort,
          path: '/health',
          timeout: 1000,
          agent: false,
          ...(tls === undefined
            ? {}
            : {
                rejectUnauthorized: false,
                cert: readFileSync(tls.cert),
                key: readFileSync(tls.key),
              }),
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
  }

  /** Wait until every running member reports healthy. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.#members.map((m, i) => (m.child ? i : -1)).filter((i) => i >= 0);
      const states = await Promise.all(running.map((i) => this.healthy(i)));
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`etcd members not healthy: ${states.join(',')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.#members.length; i++) await this.stop(i);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
