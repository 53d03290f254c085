import { type Address, toAddress } from '../fd/address.js';
import type { BackendChoice, BackendPicker, PickContext } from './backend-picker.js';
import { ProxyError } from './errors.js';

/** Plain round robin over a fixed list: the picker of `vproxy simple`. */
export class RoundRobinPicker implements BackendPicker {
  readonly #choices: readonly BackendChoice[];
  #next = 0;

  constructor(targets: readonly (string | Address)[]) {
    if (targets.length === 0) {
      throw new ProxyError('ERR_NO_BACKEND', 'round robin needs at least one backend');
    }
    this.#choices = targets.map((t) => ({ address: toAddress(t) }));
  }

  pick(): BackendChoice {
    const choice = this.#choices[this.#next] as BackendChoice;
    this.#next = (this.#next + 1) % this.#choices.length;
    return choice;
  }

  /** The next backend in turn that has not failed this client yet. */
  repick(_context: PickContext, tried: readonly Address[]): BackendChoice | null {
    for (let k = 0; k < this.#choices.length; k++) {
      const choice = this.pick();
      if (!tried.includes(choice.address)) return choice;
    }
    return null;
  }
}
