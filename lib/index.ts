// `vproxy-ts`: what most programs need first: all of `vproxy-ts/fd` (the FD contract, addresses, the
// scheme registry, errors, layers and the logger) and a registry with every shipped transport. The other
// layers have entry points of their own (`vproxy-ts/proxy`, `/lb`,
// `/protocols`, `/control`), so importing this one loads no load balancer.

export * from './fd.js';
export { createDefaultRegistry } from './transports.js';
