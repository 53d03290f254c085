// HAProxy as the reference proxy: one process, `nbthread` threads (default 1),
// `mode tcp`, one `listen` section per { port, backendPort } pair, no health checks.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST } from './procs.mjs';

/** Writes the config into `dir`; returns [cmd, args] for startChild. */
export function haproxyCommand(dir, listens, nbthread = 1) {
  const cfg = join(dir, `haproxy-${nbthread}.cfg`);
  const sections = listens.map(
    ({ port, backendPort }, i) => `
listen bench${i}
  bind ${HOST}:${port}
  server backend${i} ${HOST}:${backendPort}
`,
  );
  writeFileSync(
    cfg,
    `global
  nbthread ${nbthread}
  maxconn 1000

defaults
  mode tcp
  timeout connect 5s
  timeout client 1m
  timeout server 1m
${sections.join('')}`,
  );
  return ['haproxy', ['-f', cfg, '-db']];
}
