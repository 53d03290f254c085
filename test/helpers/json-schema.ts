// A JSON Schema checker for the subset the daemon's OpenAPI document uses
// (type, properties, required, additionalProperties, items, enum, anyOf, $ref
// into the same document). Small enough to read in one go, so a failure is
// about the document, not about a validator's options.

export interface Schema {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
  readonly items?: Schema;
  readonly enum?: readonly unknown[];
  readonly anyOf?: readonly Schema[];
  readonly $ref?: string;
}

/** Resolve `#/a/b/c` against the root document. */
function resolveRef(root: unknown, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    node = (node as Record<string, unknown> | undefined)?.[part];
    if (node === undefined) throw new Error(`dangling $ref ${ref}`);
  }
  return node as Schema;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** Every violation, as `path: what`; empty when `value` matches. */
export function validate(value: unknown, schema: Schema, root: unknown, path = '$'): string[] {
  if (schema.$ref !== undefined) return validate(value, resolveRef(root, schema.$ref), root, path);
  if (schema.anyOf !== undefined) {
    const fits = schema.anyOf.some((s) => validate(value, s, root, path).length === 0);
    return fits ? [] : [`${path}: matches none of anyOf`];
  }
  const actual = typeOf(value);
  if (schema.type !== undefined) {
    const ok = schema.type === actual || (schema.type === 'number' && actual === 'integer');
    if (!ok) return [`${path}: ${actual}, expected ${schema.type}`];
  }
  if (schema.enum !== undefined && !schema.enum.includes(value))
    return [`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`];
  const errors: string[] = [];
  if (actual === 'array' && schema.items !== undefined) {
    const items = schema.items;
    (value as unknown[]).forEach((v, i) => {
      errors.push(...validate(v, items, root, `${path}[${i}]`));
    });
  }
  if (actual === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? [])
      if (!(key in obj)) errors.push(`${path}: missing ${key}`);
    for (const [key, v] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (sub !== undefined) errors.push(...validate(v, sub, root, `${path}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected ${key}`);
    }
  }
  return errors;
}
