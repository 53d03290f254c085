// HAProxy as the reference proxy: one process, one thread, `mode tcp`, one
// `listen` section per { port, backendPort } pair, no health checks.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST } from './procs.mjs';

/** Writes the config into `dir`; returns [cmd, args] for startChild. */
export function haproxyCommand(dir, listens) {
  const cfg = join(dir, 'haproxy.cfg');
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
  nbthread 1
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
