export * from './address.js';
export * from './datagram-fd.js';
export * from './errors.js';
export * from './registry.js';
export * from './server-fd.js';
export * from './stream-fd.js';
export * from './stream-layer.js';
export * from './transport.js';
