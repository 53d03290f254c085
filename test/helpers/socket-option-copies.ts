import stream from 'node:stream';
import { setFlagsFromString } from 'node:v8';

// net.Socket copies the options it is given ({ ...options }) and reads that copy
// in Socket, Duplex, ReadableState and WritableState. With plain-object options,
// Node 20's V8 gave each copy a hidden class of its own after the first few
// sockets, so every read of it missed its inline cache (NullProto in
// src/fd/null-proto.ts). The socket-options tests catch those copies
// and count their hidden classes with the two helpers below.

setFlagsFromString('--allow-natives-syntax');
// A V8 intrinsic is only reachable from source compiled after the flag is set.
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b);') as (
  a: object,
  b: object,
) => boolean;

/** Distinct hidden classes among `objects`, as V8 sees them (%HaveSameMap). */
export function countHiddenClasses(objects: readonly object[]): number {
  const maps: object[] = [];
  for (const o of objects) if (!maps.some((m) => haveSameMap(m, o))) maps.push(o);
  return maps.length;
}

/** A socket's copy of its options, as net.Socket hands it to stream.Duplex. */
export type OptionsCopy = stream.DuplexOptions & Record<string, unknown>;

/**
 * Calls `onCopy` with the options of every stream.Duplex built until the returned
 * function is called (it puts the real stream.Duplex back). net.Socket calls
 * stream.Duplex with its copy of the options and looks it up at each call, so a
 * stand-in sees every socket's copy without touching the code under test.
 */
export function catchSocketOptionCopies(onCopy: (copy: OptionsCopy) => void): () => void {
  const RealDuplex = stream.Duplex;
  function Spy(this: stream.Duplex, options?: stream.DuplexOptions) {
    if (options !== undefined) onCopy(options as OptionsCopy);
    return RealDuplex.call(this, options);
  }
  Object.setPrototypeOf(Spy, RealDuplex);
  Spy.prototype = RealDuplex.prototype;
  (stream as { Duplex: unknown }).Duplex = Spy;
  return () => {
    (stream as { Duplex: unknown }).Duplex = RealDuplex;
  };
}
