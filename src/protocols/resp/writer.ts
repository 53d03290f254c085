/** A RESP2 reply value. Strings become bulk strings unless wrapped as status or error. */
export type RespValue =
  | string
  | number
  | null
  | { readonly status: string }
  | { readonly error: string }
  | readonly RespValue[];

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

/** Encode a reply. Bulk lengths are in bytes (the reference counted characters). */
export function encodeResp(value: RespValue): Buffer {
  const parts: Buffer[] = [];
  write(value, parts);
  return Buffer.concat(parts);
}

function write(value: RespValue, out: Buffer[]): void {
  if (value === null) {
    out.push(Buffer.from('$-1\r\n'));
  } else if (typeof value === 'number') {
    out.push(Buffer.from(`:${Math.trunc(value)}\r\n`));
  } else if (typeof value === 'string') {
    const body = Buffer.from(value, 'utf8');
    out.push(Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n'));
  } else if (Array.isArray(value)) {
    out.push(Buffer.from(`*${value.length}\r\n`));
    for (const v of value) write(v, out);
  } else if ('status' in value) {
    out.push(Buffer.from(`+${oneLine(value.status)}\r\n`));
  } else if ('error' in value) {
    out.push(Buffer.from(`-${oneLine(value.error)}\r\n`));
  }
}
