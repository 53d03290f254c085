/**
 * net.Socket's constructor copies its options (`{ ...options }`) and then adds
 * properties to the copy. On Node 20 (V8 11.3), once that copy site has seen a
 * few plain objects, each copy gets a hidden class of its own, so every read
 * of the copy in Socket, Duplex, ReadableState and WritableState misses its
 * inline cache and goes to the runtime (measured: 7,332 of 7,347 sockets' copies
 * had a new hidden class; a socket cost ~25 µs of CPU to build against ~5.6 µs
 * in a bare net proxy). Options without a prototype are a dictionary, which V8
 * copies property by property along one shared chain of hidden classes: every
 * copy has the same one and the reads hit. `__proto__: null` in a literal
 * makes such an object cheaply.
 */
export interface NullProto {
  readonly __proto__: null;
}
