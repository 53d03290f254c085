import { VproxyError } from '../../fd/errors.js';
import {
  type Action,
  FLAGS,
  PARAMS,
  type ResourceType,
  SECRET_PARAMS,
  TYPES,
} from '../command/keywords.js';
import { isToken } from '../command/parse.js';
import { type ActionRule, RESOURCES } from '../command/resources.js';
import { type DetailKind, type Details, detailKey } from '../details/records.js';
import { DETAIL_SCHEMAS, detailKindOf, type JsonSchema, schemaName } from '../details/schemas.js';
import { ControlError } from '../errors.js';
import type { CommandResult } from '../executor.js';
import { STATUS_OPENAPI_PATHS } from '../observability/status-pages.js';

// REST under /api/v1/module is a spelling of the command language: each
// request becomes one command line, so HTTP can do exactly what the other
// controllers do, with the same validation and the same results.

export interface RestTarget {
  readonly type: ResourceType;
  readonly name: string | undefined;
  readonly parent: { readonly type: ResourceType; readonly name: string } | undefined;
}

function bad(message: string): never {
  throw new ControlError('ERR_COMMAND_INVALID', message);
}

function typeOf(segment: string): ResourceType {
  const k = TYPES.get(segment);
  if (!k || k.full !== segment)
    throw new VproxyError('ERR_NOT_FOUND', `no resource type ${segment}`);
  return k.full;
}

/**
 * A name from the path goes into a command line, so it must be one token: a
 * decoded `a%20from%20server-group%20other` would otherwise name a different
 * parent than the path does. The command parser checks everything else.
 */
function nameOf(segment: string): string {
  if (!isToken(segment))
    bad(`invalid name in path ${JSON.stringify(segment)}: only printable ASCII without spaces`);
  return segment;
}

/** `/type[/name]` or `/parentType/parentName/type[/name]`, already split and decoded. */
export function parseRestPath(segments: readonly string[]): RestTarget {
  const [first = '', second, third = '', fourth] = segments;
  if (segments.length === 1 || segments.length === 2) {
    return {
      type: typeOf(first),
      name: second === undefined ? undefined : nameOf(second),
      parent: undefined,
    };
  }
  if (segments.length === 3 || segments.length === 4) {
    return {
      type: typeOf(third),
      name: fourth === undefined ? undefined : nameOf(fourth),
      parent: { type: typeOf(first), name: nameOf(second ?? '') },
    };
  }
  throw new VproxyError('ERR_NOT_FOUND', 'no such route');
}

function place(target: RestTarget, prep: 'in' | 'to' | 'from'): string {
  return target.parent ? ` ${prep} ${target.parent.type} ${target.parent.name}` : '';
}

/** The rule a write would use, to validate body keys before anything runs. */
function ruleFor(target: RestTarget, action: Action): ActionRule {
  const rules = RESOURCES[target.type][action];
  const where = target.parent?.type ?? 'top';
  const rule = rules?.find((r) => r.where.includes(where));
  if (!rule)
    bad(`cannot ${action} ${target.type}${target.parent ? ` in ${target.parent.type}` : ''}`);
  return rule;
}

/** Turn a JSON body into `param value` / `flag` words, refusing unknown keys by name. */
function bodyWords(
  body: unknown,
  rule: ActionRule,
  nameInBody: boolean,
): { name?: string; words: string[] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    bad('the body must be a JSON object');
  const words: string[] = [];
  let name: string | undefined;
  const params = (rule.params ?? []).map((p) => p.param as string);
  const flags = (rule.flags ?? []) as string[];
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (key === 'name' && nameInBody) {
      if (typeof value !== 'string' || !/^[A-Za-z0-9_$().:-]{1,128}$/.test(value))
        bad('name must match [A-Za-z0-9_$().:-]{1,128}');
      name = value;
    } else if (params.includes(key)) {
      if (typeof value !== 'string' && typeof value !== 'number')
        bad(`${key} must be a string or a number`);
      const text = String(value);
      if (/\s/.test(text) || text.length === 0)
        bad(`${key} must be non-empty and without white space`);
      words.push(key, text);
    } else if (flags.includes(key)) {
      if (value !== true) bad(`${key} is a flag: its value must be true`);
      words.push(key);
    } else {
      bad(
        `unknown key ${key}; expected one of: ${[...(nameInBody ? ['name'] : []), ...params, ...flags].join(', ') || 'none'}`,
      );
    }
  }
  return name === undefined ? { words } : { name, words };
}

export function listCommand(target: RestTarget): string {
  return `list-detail ${target.type}${place(target, 'in')}`;
}

/**
 * The answer to a GET: `{items: [record…]}` for a collection, `{item: record}`
 * for one (looked up by name; a session by its client connection), `{value}`
 * for a counter. A list without records (a test double) answers its items.
 */
export function getAnswer(target: RestTarget, result: CommandResult): Record<string, unknown> {
  const missing = () =>
    new VproxyError('ERR_NOT_FOUND', `Cannot find ${target.type} with name ${target.name}.`);
  if (result.kind === 'number') {
    if (target.name !== undefined) throw missing();
    return { value: result.value };
  }
  if (result.kind !== 'list') return { items: [] };
  const records: readonly Details[DetailKind][] | undefined = result.details?.records;
  if (target.name === undefined) return { items: records ?? result.items };
  const item =
    records === undefined
      ? result.items.find(
          (i) => typeof i === 'string' && (i === target.name || i.startsWith(`${target.name} ->`)),
        )
      : records.find((r) => detailKey(r) === target.name);
  if (item === undefined) throw missing();
  return { item };
}

export function createCommand(target: RestTarget, body: unknown): string {
  const rule = ruleFor(target, 'add');
  const { name, words } = bodyWords(body, rule, true);
  if (name === undefined) bad('missing key name');
  return [`add ${target.type} ${name}${place(target, 'to')}`, ...words].join(' ');
}

export function updateCommand(target: RestTarget, body: unknown): string {
  const rule = ruleFor(target, 'update');
  const { words } = bodyWords(body, rule, false);
  return [`update ${target.type} ${target.name}${place(target, 'in')}`, ...words].join(' ');
}

export function deleteCommand(target: RestTarget, force: boolean): string {
  return `${force ? 'force-remove' : 'remove'} ${target.type} ${target.name}${place(target, 'from')}`;
}

const KINDS = Object.keys(DETAIL_SCHEMAS) as DetailKind[];
const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

/** An object with exactly these fields, all required. */
function closed(properties: Record<string, JsonSchema>): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    required: Object.keys(properties),
    properties,
  };
}

function answer(description: string, schema: JsonSchema): Record<string, unknown> {
  return { description, content: { 'application/json': { schema } } };
}

const ERROR = closed({ code: { type: 'string' }, message: { type: 'string' } });

/** /api/v1/command answers what RESP would (see renderJson), list-detail with its records. */
const COMMAND_ANSWER: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ok: { type: 'boolean' },
    value: { type: 'integer' },
    text: { type: 'string' },
    lines: { type: 'array', items: { type: 'string' } },
    items: {
      type: 'array',
      items: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    },
    records: { type: 'array', items: { anyOf: KINDS.map((k) => ref(schemaName(k))) } },
  },
};

/** An OpenAPI 3 document of every route, generated from the resource model. */
export function openApi(version: string): Record<string, unknown> {
  const paths: Record<string, unknown> = {
    '/healthz': {
      get: { summary: 'liveness (no auth)', responses: { 200: { description: 'ok' } } },
    },
    '/api/v1/command': {
      post: {
        summary: 'run one command line (same language as StdIO and RESP)',
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['command'],
                properties: { command: { type: 'string' } },
              },
            },
          },
        },
        responses: {
          200: answer('the result', ref('CommandAnswer')),
          400: answer('bad command', ref('Error')),
        },
      },
    },
  };
  for (const type of new Set(TYPES.values())) {
    const rules = RESOURCES[type.full];
    for (const where of new Set(Object.values(rules).flatMap((rs) => rs.flatMap((r) => r.where)))) {
      // A path names one parent; a server-sock or connection also needs its
      // listener (`in connection C in tcp-lb L`), which no REST path can say.
      if (where === 'server-sock' || where === 'connection') continue;
      const base =
        where === 'top'
          ? `/api/v1/module/${type.full}`
          : `/api/v1/module/${where}/{parent}/${type.full}`;
      const schema = (action: Action) => {
        const rule = rules[action]?.find((r) => r.where.includes(where));
        if (!rule) return undefined;
        const props: Record<string, unknown> = action === 'add' ? { name: { type: 'string' } } : {};
        for (const p of rule.params ?? []) {
          props[p.param] = {
            type: 'string',
            description: PARAMS.get(p.param)?.description,
            // Secrets go in and are never answered (GET lists names only).
            ...(SECRET_PARAMS.has(p.param) ? { format: 'password', writeOnly: true } : {}),
          };
        }
        for (const f of rule.flags ?? [])
          props[f] = { type: 'boolean', description: FLAGS.get(f)?.description };
        const required = [
          ...(action === 'add' ? ['name'] : []),
          ...(rule.params ?? []).filter((p) => p.required).map((p) => p.param),
        ];
        return {
          content: {
            'application/json': {
              schema: { type: 'object', additionalProperties: false, required, properties: props },
            },
          },
        };
      };
      const answers = detailKindOf(type.full, where);
      const collection: Record<string, unknown> = {};
      if (rules['list-detail'])
        collection.get = {
          summary: `list ${type.full}`,
          responses: {
            200:
              answers === 'number'
                ? answer('the count', closed({ value: { type: 'integer' } }))
                : answer(
                    'every one, with its fields',
                    closed({ items: { type: 'array', items: ref(schemaName(answers)) } }),
                  ),
            404: answer('no such parent', ref('Error')),
          },
        };
      const add = schema('add');
      if (add)
        collection.post = {
          summary: `create ${type.full}`,
          requestBody: add,
          responses: {
            201: { description: 'created' },
            400: { description: 'invalid' },
            409: { description: 'exists' },
          },
        };
      paths[base] = collection;
      const item: Record<string, unknown> = {};
      if (rules['list-detail'] && answers !== 'number')
        item.get = {
          summary: `one ${type.full}${answers === 'session' ? ' (by its client connection)' : ''}`,
          responses: {
            200: answer('its fields', closed({ item: ref(schemaName(answers)) })),
            404: answer('missing', ref('Error')),
          },
        };
      const update = schema('update');
      if (update)
        item.put = {
          summary: `update ${type.full}`,
          requestBody: update,
          responses: { 204: { description: 'updated' } },
        };
      if (rules.remove || rules['force-remove'])
        item.delete = {
          summary: `remove ${type.full} (?force=1 skips usage checks)`,
          responses: { 204: { description: 'removed' }, 409: { description: 'in use' } },
        };
      paths[`${base}/{name}`] = item;
    }
  }
  Object.assign(paths, STATUS_OPENAPI_PATHS);
  return {
    openapi: '3.0.3',
    info: { title: 'vproxy-ts control API', version },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        ...Object.fromEntries(KINDS.map((k) => [schemaName(k), DETAIL_SCHEMAS[k]])),
        CommandAnswer: COMMAND_ANSWER,
        Error: ERROR,
      },
    },
    security: [{ bearer: [] }],
    paths,
  };
}
