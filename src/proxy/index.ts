export * from './backend-picker.js';
export * from './connect-client.js';
export * from './proxy.js';
export * from './pump.js';
export * from './round-robin.js';
export * from './session.js';
