import type { FrameSpec } from '../frame-reader.js';
import { addressBlockLength, readEndpoint } from './address.js';
import {
  COMMAND_NAMES,
  hex,
  SOCKS5_VERSION,
  Socks5AddressType,
  Socks5Reply,
  USERPASS_VERSION,
} from './constants.js';
import { noAcceptableMethodResponse, Socks5Error } from './errors.js';
import type {
  Socks5AuthStatus,
  Socks5Credentials,
  Socks5Greeting,
  Socks5MethodSelection,
  Socks5ReplyMessage,
  Socks5Request,
} from './messages.js';

/*
 * Incremental decoders (FrameSpecs) for every socks5 message. Each one rejects
 * a bad byte as soon as it arrives and knows its exact length from the length
 * fields, so a reader never buffers past one message (max 513 bytes).
 * The errors carry what a server must answer before closing.
 */

// ── server side: what clients send ─────────────────────────────────────────

/** VER NMETHODS METHODS… */
export const greetingSpec: FrameSpec<Socks5Greeting> = {
  maxLength: 2 + 255,
  frameLength(buf, have) {
    const ver = buf[0] as number;
    if (ver !== SOCKS5_VERSION) {
      // Not socks5 at all (socks4, HTTP…): there is no answer it would understand.
      throw new Socks5Error(
        'ERR_SOCKS5_BAD_VERSION',
        'greeting',
        `version 0x${hex(ver)} is not socks5 (0x05)`,
      );
    }
    if (have < 2) return 2;
    const n = buf[1] as number;
    if (n === 0) {
      throw new Socks5Error(
        'ERR_SOCKS5_MALFORMED',
        'greeting',
        'NMETHODS is 0 (must offer 1-255)',
        {
          bytes: noAcceptableMethodResponse(),
        },
      );
    }
    return 2 + n;
  },
  decode(buf, length) {
    const methods: number[] = [];
    for (let i = 2; i < length; i++) methods.push(buf[i] as number);
    return { methods };
  },
  truncated: (have) => truncated('greeting', have),
};

/** VER(01) ULEN UNAME PLEN PASSWD (RFC 1929). Zero lengths are accepted and simply fail to verify. */
export const authRequestSpec: FrameSpec<Socks5Credentials> = {
  maxLength: 3 + 255 + 255,
  frameLength(buf, have) {
    const ver = buf[0] as number;
    if (ver !== USERPASS_VERSION) {
      throw new Socks5Error(
        'ERR_SOCKS5_MALFORMED',
        'auth',
        `username/password version 0x${hex(ver)} (expected 0x01)`,
        { bytes: Buffer.from([USERPASS_VERSION, 0x01]) },
      );
    }
    if (have < 2) return 2;
    const ulen = buf[1] as number;
    if (have < 3 + ulen) return 3 + ulen;
    return 3 + ulen + (buf[2 + ulen] as number);
  },
  decode(buf) {
    const ulen = buf[1] as number;
    const plen = buf[2 + ulen] as number;
    return {
      username: Buffer.from(buf.subarray(2, 2 + ulen)),
      password: Buffer.from(buf.subarray(3 + ulen, 3 + ulen + plen)),
    };
  },
  truncated: (have) => truncated('auth', have),
};

/** VER CMD RSV ATYP DST.ADDR DST.PORT */
export const requestSpec: FrameSpec<Socks5Request> = {
  maxLength: 4 + 1 + 255 + 2,
  frameLength(buf, have) {
    const ver = buf[0] as number;
    if (ver !== SOCKS5_VERSION) {
      throw new Socks5Error(
        'ERR_SOCKS5_BAD_VERSION',
        'request',
        `version 0x${hex(ver)} (expected 0x05)`,
        { replyCode: Socks5Reply.GENERAL_FAILURE },
      );
    }
    if (have < 2) return 2;
    const cmd = buf[1] as number;
    if (COMMAND_NAMES[cmd] === undefined) {
      throw new Socks5Error(
        'ERR_SOCKS5_COMMAND_NOT_SUPPORTED',
        'request',
        `unknown command 0x${hex(cmd)}`,
        { replyCode: Socks5Reply.COMMAND_NOT_SUPPORTED },
      );
    }
    // RSV (byte 2) is not checked: RFC 1928 gives receivers no rule for it.
    return addressedLength(buf, have, 'request');
  },
  decode(buf) {
    const endpoint = readEndpoint(buf, 3);
    if (endpoint === null) throw badDomain('request');
    // frameLength has checked the command byte.
    const command = COMMAND_NAMES[buf[1] as number] as Socks5Request['command'];
    return { command, ...endpoint };
  },
  truncated: (have) => truncated('request', have),
};

// ── client side: what servers send ─────────────────────────────────────────

/** VER METHOD */
export const methodSelectionSpec: FrameSpec<Socks5MethodSelection> = {
  maxLength: 2,
  frameLength(buf) {
    checkServerVersion(buf[0] as number, 'greeting');
    return 2;
  },
  decode: (buf) => ({ method: buf[1] as number }),
  truncated: (have) => truncated('greeting', have),
};

/** VER(01) STATUS */
export const authStatusSpec: FrameSpec<Socks5AuthStatus> = {
  maxLength: 2,
  frameLength(buf) {
    const ver = buf[0] as number;
    if (ver !== USERPASS_VERSION) {
      throw new Socks5Error(
        'ERR_SOCKS5_MALFORMED',
        'auth',
        `status version 0x${hex(ver)} (expected 0x01)`,
      );
    }
    return 2;
  },
  decode: (buf) => ({ status: buf[1] as number }),
  truncated: (have) => truncated('auth', have),
};

/** VER REP RSV ATYP BND.ADDR BND.PORT */
export const replySpec: FrameSpec<Socks5ReplyMessage> = {
  maxLength: 4 + 1 + 255 + 2,
  frameLength(buf, have) {
    checkServerVersion(buf[0] as number, 'reply');
    return addressedLength(buf, have, 'reply');
  },
  decode(buf) {
    const endpoint = readEndpoint(buf, 3);
    if (endpoint === null) throw badDomain('reply');
    return { code: buf[1] as number, ...endpoint };
  },
  truncated: (have) => truncated('reply', have),
};

// ── shared ─────────────────────────────────────────────────────────────────

/** Length of a request/reply once bytes 0-1 are valid: 3 + address block. */
function addressedLength(buf: Uint8Array, have: number, stage: 'request' | 'reply'): number {
  if (have < 4) return 4;
  const atyp = buf[3] as number;
  if (atyp === Socks5AddressType.IPV4 || atyp === Socks5AddressType.IPV6) {
    return 3 + addressBlockLength(atyp, 0);
  }
  if (atyp !== Socks5AddressType.DOMAIN) {
    throw new Socks5Error(
      'ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED',
      stage,
      `address type 0x${hex(atyp)} (expected 01, 03 or 04)`,
      stage === 'request' ? { replyCode: Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED } : {},
    );
  }
  if (have < 5) return 5;
  const len = buf[4] as number;
  if (len === 0) {
    throw new Socks5Error(
      'ERR_SOCKS5_MALFORMED',
      stage,
      'empty domain name',
      stage === 'request' ? { replyCode: Socks5Reply.GENERAL_FAILURE } : {},
    );
  }
  return 3 + addressBlockLength(atyp, len);
}

function checkServerVersion(ver: number, stage: 'greeting' | 'reply'): void {
  if (ver !== SOCKS5_VERSION) {
    throw new Socks5Error(
      'ERR_SOCKS5_BAD_VERSION',
      stage,
      `server answered with version 0x${hex(ver)} (expected 0x05)`,
    );
  }
}

function badDomain(stage: 'request' | 'reply'): Socks5Error {
  return new Socks5Error(
    'ERR_SOCKS5_MALFORMED',
    stage,
    'domain name is not valid UTF-8',
    stage === 'request' ? { replyCode: Socks5Reply.GENERAL_FAILURE } : {},
  );
}

function truncated(stage: 'greeting' | 'auth' | 'request' | 'reply', have: number): Socks5Error {
  return new Socks5Error(
    'ERR_SOCKS5_TRUNCATED',
    stage,
    `stream ended after ${have} byte(s) of an unfinished message`,
    stage === 'request' ? { replyCode: Socks5Reply.GENERAL_FAILURE } : {},
  );
}
