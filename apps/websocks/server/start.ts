import { createLogger, parseLogFormat, parseLogLevel } from '../../../src/fd/logger.js';
import { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { stopOnSignal } from '../stop-on-signal.js';
import type { WebsocksServerFlags } from './command.js';
import { startServerControllers } from './controller.js';
import { wsFramedAdopter } from './framed.js';

/** Start from flags; print one line per listener; stop on SIGINT / SIGTERM. */
export async function startWebsocksServer(flags: WebsocksServerFlags): Promise<void> {
  const logger = createLogger({
    threshold: parseLogLevel(flags.logLevel ?? process.env.VPROXY_LOG ?? 'info'),
    format: parseLogFormat(flags.logFormat ?? 'text'),
  });
  // Before anything listens: a signal right after the listening lines must stop the server.
  const signals = stopOnSignal();
  const registry = createDefaultRegistry(logger);
  const server = await WebsocksServer.start({
    listen: flags.listen,
    registry,
    logger,
    framed: wsFramedAdopter,
    ...(flags.auth === undefined ? {} : { auth: flags.auth }),
    ...(flags.usersFile === undefined ? {} : { usersFile: flags.usersFile }),
    ...(flags.webroot === undefined ? {} : { webroot: flags.webroot }),
    ...(flags.cert === undefined ? {} : { cert: flags.cert }),
    ...(flags.key === undefined ? {} : { key: flags.key }),
    ...(flags.redirectPort === undefined ? {} : { redirectPort: flags.redirectPort }),
    ...(flags.pathPrefix === undefined ? {} : { pathPrefix: flags.pathPrefix }),
    ...(flags.replayBudget === undefined ? {} : { replayBudget: flags.replayBudget }),
    ...(flags.reloadInterval === undefined ? {} : { reloadIntervalMs: flags.reloadInterval }),
    ...(flags.idleTimeout === undefined ? {} : { idleTimeoutMs: flags.idleTimeout }),
    ...(flags.handshakeTimeout === undefined ? {} : { handshakeTimeoutMs: flags.handshakeTimeout }),
    kcp: flags.kcp === true,
    allowLoopback: flags.allowLoopback === true,
  });
  for (const line of server.lines) {
    console.log(`vproxy websocks-server: ${line.role} listening on ${line.address}`);
  }
  const controller = await startServerControllers(server, flags, registry, logger).catch(
    async (err: unknown) => {
      await server.close();
      throw err;
    },
  );
  for (const line of controller?.lines ?? []) console.log(`vproxy websocks-server: ${line}`);
  signals.arm(() => {
    void Promise.all([server.close(), controller?.close()]).then(() => {
      const s = server.stats();
      const refused = Object.values(s.refused).reduce((a, b) => a + (b ?? 0), 0);
      console.log(
        `vproxy websocks-server: stopped after ${s.tunnels} tunnels, ${s.webConnections} web connections, ${refused} refused upgrades`,
      );
    });
  });
}
