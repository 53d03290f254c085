export * from './client-request.js';
export * from './constants.js';
export * from './errors.js';
export * from './frame.js';
export * from './password-hash.js';
export * from './replay-cache.js';
export * from './server-check.js';
export * from './upgrade-response.js';
