import { type Address, toAddress } from '../fd/address.js';
import { VproxyError } from '../fd/errors.js';
import type { BackendPicker } from './backend-picker.js';

/** Plain round robin over a fixed list: the picker of `vproxy simple`. */
export class RoundRobinPicker implements BackendPicker {
  readonly #targets: readonly Address[];
  #next = 0;

  constructor(targets: readonly (string | Address)[]) {
    if (targets.length === 0)
      throw new VproxyError('ERR_NO_BACKEND', 'round robin needs at least one backend');
    this.#targets = targets.map(toAddress);
  }

  pick(): Address {
    const target = this.#targets[this.#next] as Address;
    this.#next = (this.#next + 1) % this.#targets.length;
    return target;
  }
}
