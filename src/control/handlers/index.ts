import type { ResourceType } from '../command/keywords.js';
import type { Command } from '../command/parse.js';
import type { CommandResult } from '../executor.js';
import type { ResourceStore } from '../store.js';
import {
  certKeyCommand,
  elCommand,
  elgCommand,
  ruleCommand,
  securityGroupCommand,
} from './basics.js';
import { serverCommand, serverGroupCommand, upstreamCommand } from './groups.js';
import { listenerCommand } from './listeners.js';
import { groupDelegateCommand, nodeDelegateCommand } from './mesh.js';
import { socks5UserCommand } from './socks5-users.js';
import { udpLbCommand } from './udp-lbs.js';

export type Handler = (
  store: ResourceStore,
  cmd: Command,
) => CommandResult | Promise<CommandResult>;

/**
 * The handler of each resource kind the store holds (controllers are the
 * daemon's, the inspection kinds read listeners). Each handles exactly the
 * actions the model gives its kind and fails on any other (unsupportedAction).
 */
export const HANDLERS: Readonly<Partial<Record<ResourceType, Handler>>> = {
  'tcp-lb': listenerCommand,
  'socks5-server': listenerCommand,
  'udp-lb': udpLbCommand,
  'event-loop-group': elgCommand,
  'event-loop': elCommand,
  upstream: upstreamCommand,
  'server-group': serverGroupCommand,
  server: serverCommand,
  'socks5-user': socks5UserCommand,
  'security-group': securityGroupCommand,
  'security-group-rule': ruleCommand,
  'cert-key': certKeyCommand,
  'smart-node-delegate': nodeDelegateCommand,
  'smart-group-delegate': groupDelegateCommand,
};
