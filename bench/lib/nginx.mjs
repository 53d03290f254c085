// nginx as the HTTP backend: a generated config in a private dir, one worker,
// no access log, a tiny fixed body, keep-alive connections that are never
// retired by request count (so the keep-alive figure is not a reconnect figure).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST } from './procs.mjs';

export const NGINX_BODY = 'ok\n';

/** Writes DIR/nginx/nginx.conf; returns [cmd, args] for startChild (foreground). */
export function nginxCommand(dir, port) {
  const prefix = join(dir, 'nginx');
  mkdirSync(prefix, { recursive: true });
  // Every path is explicit: the distro's compiled-in ones (/var/lib/nginx…) need not be writable.
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${join(prefix, `${t}_temp`)};`)
    .join('\n');
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;

events {
  worker_connections 4096;
}

http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
${temp}

  server {
    listen ${HOST}:${port};
    location / {
      default_type text/plain;
      return 200 '${NGINX_BODY.replace('\n', '\\n')}';
    }
  }
}
`,
  );
  // -e: the error log before the config is read, else nginx warns about /var/log/nginx.
  const args = ['-p', prefix, '-c', 'nginx.conf', '-e', join(prefix, 'error.log')];
  return ['nginx', [...args, '-g', 'daemon off;']];
}

/** Lines of nginx's error log at warn level or worse (the log nginxCommand set up in `dir`). */
export function nginxErrors(dir) {
  const file = join(dir, 'nginx', 'error.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => /\[(warn|error|crit|alert|emerg)\]/.test(l));
}
