import type { Action, Flag, Param, ResourceType } from './keywords.js';
import * as check from './values.js';

/** One parameter an action takes. */
export interface ParamRule {
  readonly param: Param;
  readonly required?: boolean;
  /** Shown by `man`; the executor applies it. */
  readonly default?: string;
  readonly check: check.ValueCheck;
}

/** What one action on one resource type accepts. */
export interface ActionRule {
  /** Where the resource must be: 'top', or the type of its direct parent. */
  readonly where: readonly (ResourceType | 'top')[];
  readonly params?: readonly ParamRule[];
  readonly flags?: readonly Flag[];
  /** Parameters that must be given together (all or none). */
  readonly together?: readonly Param[];
  /** Exactly one of these must be given (smart-node-delegate: nic or address). */
  readonly oneOf?: readonly Param[];
  readonly description: string;
}

/** Per action, one rule per place the resource can be (server-group: top, or in an upstream). */
export type ResourceRules = Partial<Record<Action, readonly ActionRule[]>>;

// The action sets several resource types share, so that resources of one kind
// (named things, live inspections, controllers, counters) read the same in
// `help` and `man`.

export const simple = (where: readonly (ResourceType | 'top')[], what: string): ResourceRules => ({
  list: [{ where, description: `list ${what} names` }],
  'list-detail': [{ where, description: `list ${what} with details` }],
  remove: [{ where, description: `remove a ${what} (refused while it is in use)` }],
  // Refused like remove while in use: a cascade would take listeners down, a
  // dangling reference would leave a config that does not load.
  'force-remove': [{ where, description: `same as remove: refused while it is in use` }],
});

export const inspect = (
  where: readonly ResourceType[],
  what: string,
  closable: boolean,
): ResourceRules => ({
  list: [{ where, description: `count ${what}` }],
  'list-detail': [{ where, description: `list ${what}` }],
  ...(closable
    ? { 'force-remove': [{ where, description: `close ${what} by exact id or /regex/` }] }
    : {}),
});

/**
 * A controller (the daemon's SystemHooks run it): without a secret the stored
 * one is used. Added over RESP/HTTP it listens on loopback only.
 */
export const controller = (what: string, secret: ParamRule): ResourceRules => ({
  list: [{ where: ['top'], description: `list ${what} names` }],
  'list-detail': [{ where: ['top'], description: `list ${what}s with their addresses` }],
  add: [
    {
      where: ['top'],
      params: [{ param: 'address', required: true, check: check.address }, secret],
      description: `start a ${what} (without ${secret.param}: the stored one)`,
    },
  ],
  remove: [{ where: ['top'], description: `stop a ${what}` }],
});

export const number = (where: readonly ResourceType[], what: string): ResourceRules => ({
  list: [{ where, description: what }],
  'list-detail': [{ where, description: what }],
});
