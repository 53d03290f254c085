export * from './crc32c.js';
export * from './decode.js';
export * from './encode.js';
export * from './read-header.js';
export * from './types.js';
