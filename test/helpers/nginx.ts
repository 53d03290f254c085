import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { closedPort } from './net.js';
import { type RequiredTool, requireTool } from './require-tool.js';

/**
 * nginx as a shell finds it (it lives in /usr/sbin, often not on a test
 * runner's PATH). Missing: importing this module throws in CI; locally the
 * suite skips with `describe.skipIf(NGINX.missing)`, titled with skipNote.
 */
export const NGINX: RequiredTool = requireTool('nginx');

export interface Nginx {
  readonly port: number;
  /** The tail of nginx's error log, for failure messages. */
  errorLog(): string;
  stop(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * nginx from the distribution, configured as the usual WebSocket reverse proxy
 * (proxy_pass + HTTP/1.1 + Upgrade/Connection headers, no buffering, long read
 * timeout) in front of 127.0.0.1:`backendPort`. It runs in the foreground as a
 * single process (no master, no privilege drop) from a throwaway prefix dir.
 */
export async function startNginxWsProxy(backendPort: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'vproxy-nginx-'));
  const port = await closedPort();
  const p = (name: string) => join(dir, name);
  writeFileSync(
    p('nginx.conf'),
    `daemon off;
master_process off;
worker_processes 1;
error_log ${p('error.log')} warn;
pid ${p('nginx.pid')};
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${p('client_body')};
  proxy_temp_path ${p('proxy')};
  fastcgi_temp_path ${p('fastcgi')};
  uwsgi_temp_path ${p('uwsgi')};
  scgi_temp_path ${p('scgi')};
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_buffering off;
    }
  }
}
`,
  );
  const child: ChildProcess = spawn(
    NGINX.path,
    ['-p', dir, '-c', p('nginx.conf'), '-e', p('error.log')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const errorLog = () => {
    try {
      return readFileSync(p('error.log'), 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (exited || Date.now() > deadline) {
      const why = `${stderr}\n${errorLog()}`.trim();
      await stop();
      throw new Error(`nginx did not start on 127.0.0.1:${port}: ${why}`);
    }
    await sleep(50);
  }
  return { port, errorLog, stop };
}
