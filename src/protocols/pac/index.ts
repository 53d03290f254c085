export * from './generate.js';
export * from './runtime.js';
export * from './serialize.js';
