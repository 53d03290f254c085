import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A password or token kept only as its SHA-512 digest and compared in constant
 * time (digests have equal length, so timingSafeEqual applies and the length of
 * the real secret leaks nothing).
 */
export class Secret {
  readonly #digest: Buffer;

  constructor(plain: string) {
    this.#digest = createHash('sha512').update(plain, 'utf8').digest();
  }

  matches(candidate: string): boolean {
    const digest = createHash('sha512').update(candidate, 'utf8').digest();
    return timingSafeEqual(digest, this.#digest);
  }

  /** A random secret for when the user gave none: 24 bytes, base64url. */
  static generate(): string {
    return randomBytes(24).toString('base64url');
  }
}
