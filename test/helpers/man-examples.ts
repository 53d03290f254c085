import { manLines } from '../../src/control/command/help.js';
import { type Action, type ResourceType, TYPES } from '../../src/control/command/keywords.js';
import { RESOURCES } from '../../src/control/command/resources.js';
import type { SystemHooks } from '../../src/control/command-executor.js';

// Every usage line `man <type>` prints, turned into concrete commands: each
// `a|b` choice expanded, every `<name>` filled with a resource a scratch store
// holds (see SEED), required params given example values; a second variant
// adds every optional param and the first flag. The point: what man shows is
// what a user types, so each must parse and run.

/** What the scratch store holds before each example (cert-key files are substituted). */
export const SEED = (cert: string, key: string): string[] => [
  `add cert-key ck0 cert ${cert} key ${key}`,
  'add event-loop-group elg0',
  'add event-loop el0 to event-loop-group elg0',
  'add server-group sg0 timeout 500 period 60000 up 1 down 2 method wrr check none',
  'add server-group sg1 timeout 500 period 60000 up 1 down 2 method wrr check none',
  'add upstream ups0',
  'add upstream ups1',
  'add server-group sg0 to upstream ups0 weight 10',
  'add server svr0 to server-group sg0 address 127.0.0.1:1 weight 10',
  'add security-group secg0 default allow',
  'add security-group-rule r0 to security-group secg0 network 10.0.0.0/8 protocol tcp port-range 0,65535 default deny',
  'add tcp-lb lb0 address 127.0.0.1:0 upstream ups0',
  'add socks5-server s50 address 127.0.0.1:0 upstream ups0',
  'add socks5-user u0 to socks5-server s50 password pw0',
  'add udp-lb ul0 address udp://127.0.0.1:0 upstream ups0',
  'add smart-node-delegate snd0 service svc0 zone z0 address 127.0.0.1 port 1',
  'add smart-group-delegate sgd0 service svc0 zone z0 server-group sg0',
];

/** The name of an existing resource of a type, as a parent or a subject. */
const EXISTING: Partial<Record<ResourceType, string>> = {
  'tcp-lb': 'lb0',
  'socks5-server': 's50',
  'udp-lb': 'ul0',
  'event-loop-group': 'elg0',
  'event-loop': 'el0',
  upstream: 'ups0',
  'server-group': 'sg0',
  server: 'svr0',
  'socks5-user': 'u0',
  'security-group': 'secg0',
  'security-group-rule': 'r0',
  'cert-key': 'ck0',
  'smart-node-delegate': 'snd0',
  'smart-group-delegate': 'sgd0',
  // Controllers are the daemon's: the scratch executor's SystemHooks (SCRATCH_SYSTEM) hold these.
  'resp-controller': 'rc0',
  'http-controller': 'hc0',
  // No live connection in a scratch store: these ids name none (ERR_NOT_FOUND at most).
  connection: '127.0.0.1:1/127.0.0.1:2',
  session: '127.0.0.1:1/127.0.0.1:2',
};

/** Subjects of a remove: ones nothing uses (removing a used one is refused, by design). */
const REMOVABLE: Partial<Record<ResourceType, string>> = {
  upstream: 'ups1',
  'server-group': 'sg1',
  'event-loop-group': 'elg0',
};

export interface ExampleContext {
  readonly cert: string;
  readonly key: string;
  /** The listening socket ids of lb0 / s50 (host:port), known once the seed ran. */
  readonly serverSock: { readonly 'tcp-lb': string; readonly 'socks5-server': string };
}

function value(param: string, type: string, ctx: ExampleContext, tls: boolean): string {
  switch (param) {
    case 'address':
      if (type === 'server') return '127.0.0.1:2';
      if (type === 'udp-lb') return 'udp://127.0.0.1:0';
      return tls ? 'tls://127.0.0.1:0' : '127.0.0.1:0';
    case 'upstream':
      return 'ups0';
    case 'acceptor-elg':
      return '(acceptor-elg)';
    case 'event-loop-group':
      return 'elg0';
    case 'in-buffer-size':
    case 'out-buffer-size':
      return '32768';
    case 'timeout':
    case 'fin-timeout':
      return '1000';
    case 'period':
      return '60000';
    case 'retries':
      return '3';
    case 'access-log':
      return 'on';
    case 'up':
    case 'down':
      return '1';
    case 'method':
      return 'wlc';
    case 'check':
      return 'none';
    case 'weight':
      return '5';
    case 'security-group':
      return 'secg0';
    case 'default':
      return 'allow';
    case 'network':
      return '192.168.0.0/16';
    case 'protocol':
      return 'tcp';
    case 'port-range':
      return '1,1024';
    case 'cert':
      return ctx.cert;
    case 'key':
      return ctx.key;
    case 'cert-key':
      return 'ck0';
    case 'password':
      return 'pw1';
    case 'token':
      return 'tk1';
    case 'service':
      return 'svc1';
    case 'zone':
      return 'z1';
    case 'nic':
      return 'lo';
    case 'port':
      return '0';
    case 'ip-type':
      return 'v4';
    case 'server-group':
      return 'sg0';
    case 'max-flows':
      return '100';
    case 'max-associations':
      return '16';
    case 'udp-timeout':
      return '5000';
    default:
      throw new Error(`no example value for param ${param}`);
  }
}

/** The usage lines of every resource type, as man prints them (without the indent). */
export function usageLines(): { type: ResourceType; line: string }[] {
  const out: { type: ResourceType; line: string }[] = [];
  for (const type of new Set([...TYPES.values()].map((k) => k.full))) {
    for (const l of manLines(type)) {
      const m = /^ {2}(add|list|list-detail|update|remove|force-remove) /.exec(l);
      if (m) out.push({ type, line: l.trim() });
    }
  }
  return out;
}

/** Every `a|b` of a usage line as separate lines. */
function expandChoices(line: string): string[] {
  const words = line.split(' ');
  let lines: string[][] = [[]];
  for (const w of words) {
    const choices =
      w.includes('|') && !w.startsWith('<') && !w.startsWith('[') ? w.split('|') : [w];
    lines = lines.flatMap((prefix) => choices.map((c) => [...prefix, c]));
  }
  return lines.map((l) => l.join(' '));
}

/** Concrete commands for one usage line: required params only, then everything. */
export function examplesOf(line: string, ctx: ExampleContext): string[] {
  const out: string[] = [];
  for (const choice of expandChoices(line)) {
    for (const full of [false, true]) {
      const tokens = choice
        .replace(/\[|\]/g, (b) => ` ${b} `)
        .split(/ +/)
        .filter(Boolean);
      const [action = '', type = ''] = tokens;
      const tls = full && choice.includes('[cert-key <cert-key>]');
      const words: string[] = [];
      let optional = false;
      let flagTaken = false;
      let lastType = type;
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i] ?? '';
        if (t === '[') {
          optional = true;
          continue;
        }
        if (t === ']') {
          optional = false;
          continue;
        }
        if (optional && !full) continue;
        if (t === '<name>') {
          const listener = tokens.slice(i).find((w) => w === 'tcp-lb' || w === 'socks5-server');
          words.push(
            nameFor(lastType as ResourceType, i === 2 ? action : 'parent', choice, ctx, listener),
          );
          continue;
        }
        const param = /^<(.+)>$/.exec(t)?.[1];
        if (param !== undefined) {
          words.push(value(param, type, ctx, tls));
          continue;
        }
        if (tokens[i - 1] === '[' && tokens[i + 1] === ']') {
          // A flag: only the first, two contradicting flags would be refused.
          if (flagTaken) continue;
          flagTaken = true;
        }
        if (i > 0 && (tokens[i - 1] === 'in' || tokens[i - 1] === 'to' || tokens[i - 1] === 'from'))
          lastType = t;
        words.push(t);
      }
      out.push(oneOfExample(action, type, words, ctx).join(' '));
    }
  }
  return [...new Set(out)];
}

/**
 * A rule's `oneOf` params (nic or address) are each optional in the usage
 * line, but exactly one must be given: the first one, and only it.
 */
function oneOfExample(
  action: string,
  type: string,
  words: string[],
  ctx: ExampleContext,
): string[] {
  const rule = RESOURCES[type as ResourceType]?.[action as Action]?.find((r) => r.oneOf);
  const [first, ...others] = rule?.oneOf ?? [];
  if (first === undefined) return words;
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? '';
    if ((others as string[]).includes(w) && i > 2) {
      i++;
      continue;
    }
    out.push(w);
  }
  if (!out.includes(first)) out.push(first, value(first, type, ctx, false));
  return out;
}

function nameFor(
  type: ResourceType,
  role: string,
  line: string,
  ctx: ExampleContext,
  listener: string | undefined,
): string {
  if (type === 'server-sock')
    return ctx.serverSock[listener === 'socks5-server' ? 'socks5-server' : 'tcp-lb'];
  if (role === 'add')
    return type === 'server-group' && line.includes(' to upstream') ? 'sg1' : `new-${type}`;
  if (role === 'remove' || role === 'force-remove') {
    if (type === 'server-group' && line.includes(' from upstream')) return 'sg0';
    const free = REMOVABLE[type];
    if (free !== undefined) return free;
  }
  const name = EXISTING[type];
  if (name === undefined) throw new Error(`no example name for ${type}`);
  return name;
}

/**
 * A daemon's controller hooks for a scratch executor: controllers `rc0` and
 * `hc0` exist; adding and removing succeed without listening anywhere.
 */
export const SCRATCH_SYSTEM: SystemHooks = {
  addController: async (kind, name, address) => `${kind} ${name} listening on ${address}`,
  removeController: async () => {},
  listControllers: (kind) => [
    { name: kind === 'resp-controller' ? 'rc0' : 'hc0', address: '127.0.0.1:1' },
  ],
  shutdown: () => {},
};
