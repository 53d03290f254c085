import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { VproxyError } from '../../fd/errors.js';
import { formatCidr } from '../../lb/cidr.js';
import { EventLoopGroup } from '../../lb/event-loop-group.js';
import { SecurityGroup } from '../../lb/security-group.js';
import type { Command } from '../command/parse.js';
import { present } from '../command/typed.js';
import { detailList } from '../details/records.js';
import { ControlError } from '../errors.js';
import type { CommandResult } from '../executor.js';
import { DEFAULT_ELGS, mustBeNew, mustGet, type ResourceStore } from '../store.js';
import { unsupportedAction } from './unsupported.js';

// event-loop-group, event-loop, security-group, security-group-rule, cert-key.

const DONE: CommandResult = { kind: 'done' };

function isDefaultElg(name: string): boolean {
  return (DEFAULT_ELGS as readonly string[]).includes(name);
}

export async function elgCommand(store: ResourceStore, cmd: Command): Promise<CommandResult> {
  const name = cmd.name ?? '';
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...store.elgs.keys()] };
    case 'list-detail':
      return detailList(
        'event-loop-group',
        [...store.elgs.keys()].map((n) => ({ name: n })),
      );
    case 'add': {
      mustBeNew(store.elgs, 'event-loop-group', name);
      // The daemon's groups added by command are worker processes (store.workers).
      store.elgs.set(name, new EventLoopGroup(name, store.workers?.groupOptions()));
      return DONE;
    }
    case 'remove':
    case 'force-remove': {
      const elg = mustGet(store.elgs, 'event-loop-group', name);
      if (isDefaultElg(name)) {
        throw new ControlError('ERR_FORBIDDEN', `cannot remove a default event loop group ${name}`);
      }
      store.elgs.delete(name);
      await elg.close();
      return DONE;
    }
    default:
      return unsupportedAction(cmd);
  }
}

export async function elCommand(store: ResourceStore, cmd: Command): Promise<CommandResult> {
  const groupName = cmd.location[0]?.name ?? '';
  const elg = mustGet(store.elgs, 'event-loop-group', groupName);
  if (cmd.action === 'list') return { kind: 'list', items: elg.list().map((l) => l.name) };
  if (cmd.action === 'list-detail')
    return detailList(
      'event-loop',
      elg.list().map((l) => ({ name: l.name })),
    );
  if (isDefaultElg(groupName)) {
    throw new ControlError(
      'ERR_FORBIDDEN',
      `cannot modify the default event loop group ${groupName}`,
    );
  }
  if (cmd.action === 'add') elg.add(cmd.name ?? '');
  else if (cmd.action === 'remove' || cmd.action === 'force-remove')
    await elg.remove(cmd.name ?? '');
  else unsupportedAction(cmd);
  return DONE;
}

export function securityGroupCommand(store: ResourceStore, cmd: Command): CommandResult {
  const name = cmd.name ?? '';
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...store.securityGroups.keys()] };
    case 'list-detail':
      return detailList(
        'security-group',
        [...store.securityGroups.values()].map((g) => ({ name: g.name, default: g.defaultAction })),
      );
    case 'add':
      mustBeNew(store.securityGroups, 'security-group', name);
      store.securityGroups.set(name, new SecurityGroup(name, cmd.values.default));
      return DONE;
    case 'update':
      mustGet(store.securityGroups, 'security-group', name).defaultAction = present(
        cmd.values,
        'default',
      ).default;
      return DONE;
    case 'remove':
    case 'force-remove':
      mustGet(store.securityGroups, 'security-group', name);
      store.securityGroups.delete(name);
      return DONE;
    default:
      return unsupportedAction(cmd);
  }
}

export function ruleCommand(store: ResourceStore, cmd: Command): CommandResult {
  const group = mustGet(store.securityGroups, 'security-group', cmd.location[0]?.name ?? '');
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: group.rules().map((r) => r.name) };
    case 'list-detail':
      return detailList(
        'security-group-rule',
        group.rules().map((r) => ({
          name: r.name,
          default: r.action,
          network: formatCidr(r.network),
          protocol: r.protocol,
          'port-range': `${r.ports.min},${r.ports.max}`,
        })),
      );
    case 'add': {
      const v = present(cmd.values, 'network', 'protocol', 'port-range', 'default');
      group.addRule({
        name: cmd.name ?? '',
        network: v.network,
        protocol: v.protocol,
        ports: v['port-range'],
        action: v.default,
      });
      return DONE;
    }
    case 'remove':
    case 'force-remove':
      group.removeRule(cmd.name ?? '');
      return DONE;
    default:
      return unsupportedAction(cmd);
  }
}

/**
 * `~/` is the daemon user's home; a relative path is resolved against the
 * daemon's working directory now, so the saved config holds an absolute path
 * that loads from anywhere, and the answer says where it looked.
 */
function filePath(path: string): { path: string; relative: boolean } {
  if (path.startsWith('~/')) return { path: `${homedir()}${path.slice(1)}`, relative: false };
  return isAbsolute(path) ? { path, relative: false } : { path: resolve(path), relative: true };
}

/** PEM files are small; anything bigger (or a device such as /dev/zero) is not one. */
const MAX_PEM_BYTES = 1024 * 1024;

function readPem(name: string, what: 'cert' | 'key', file: string): string {
  const fail = (why: string): never => {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `cert-key ${name}: cannot read ${what} ${file}: ${why}`,
    );
  };
  try {
    const st = statSync(file);
    if (!st.isFile()) fail('not a regular file');
    if (st.size > MAX_PEM_BYTES) fail(`larger than ${MAX_PEM_BYTES} bytes`);
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof VproxyError) throw err;
    const e = err as NodeJS.ErrnoException;
    return fail(
      e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message,
    );
  }
}

/**
 * What `add cert-key` (and save's round-trip check) require of its files: a
 * readable PEM certificate (chain), a readable PEM private key, and that the
 * key belongs to the certificate, so a TLS listener never fails later on them.
 */
export function checkCertKeyFiles(name: string, certFile: string, keyFile: string): void {
  const certText = readPem(name, 'cert', certFile);
  const keyText = readPem(name, 'key', keyFile);
  const invalid = (message: string) =>
    new VproxyError('ERR_OPTION_INVALID', `cert-key ${name}: ${message}`);
  let cert: X509Certificate;
  try {
    if (!certText.includes('-----BEGIN CERTIFICATE-----'))
      throw new Error('no BEGIN CERTIFICATE block');
    cert = new X509Certificate(certText);
  } catch (err) {
    throw invalid(`cert ${certFile} is not a PEM certificate (${(err as Error).message})`);
  }
  let key: KeyObject;
  try {
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyText))
      throw new Error('no BEGIN PRIVATE KEY block');
    key = createPrivateKey(keyText);
  } catch (err) {
    throw invalid(`key ${keyFile} is not a PEM private key (${(err as Error).message})`);
  }
  if (!cert.checkPrivateKey(key)) throw invalid(`key ${keyFile} does not match cert ${certFile}`);
}

export function certKeyCommand(store: ResourceStore, cmd: Command): CommandResult {
  const name = cmd.name ?? '';
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...store.certKeys.keys()] };
    case 'list-detail':
      return detailList(
        'cert-key',
        [...store.certKeys].map(([n, ck]) => ({ name: n, cert: ck.certs.join(','), key: ck.key })),
      );
    case 'add': {
      mustBeNew(store.certKeys, 'cert-key', name);
      const certFiles = present(cmd.values, 'cert').cert.map(filePath);
      // TLS listeners take one chain file; several files would need joining at every load.
      if (certFiles.length !== 1) {
        throw new VproxyError(
          'ERR_OPTION_INVALID',
          `cert-key ${name}: give one PEM file holding the whole chain`,
        );
      }
      const certs = certFiles.map((f) => f.path);
      const key = filePath(present(cmd.values, 'key').key);
      checkCertKeyFiles(name, certs[0] ?? '', key.path);
      store.certKeys.set(name, { certs, key: key.path });
      if (!key.relative && !certFiles.some((f) => f.relative)) return DONE;
      return {
        kind: 'text',
        text:
          `cert-key ${name}: relative paths resolved against the daemon's directory ${process.cwd()}:` +
          ` cert ${certs.join(',')} key ${key.path}`,
      };
    }
    case 'remove':
    case 'force-remove':
      // Whether anything uses it was checked by the executor (refuseIfUsed).
      mustGet(store.certKeys, 'cert-key', name);
      store.certKeys.delete(name);
      return DONE;
    default:
      return unsupportedAction(cmd);
  }
}
