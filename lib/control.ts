// `vproxy-ts/control`: the command language without the daemon: a resource
// store and the executor that runs command lines against it (the same one the
// StdIO / RESP / HTTP controllers use), for programs that embed vproxy and
// configure it with the words its operators already know.

export {
  type ControllerKind,
  type ExecutorOptions,
  StoreExecutor,
  type SystemHooks,
} from '../src/control/command-executor.js';
export { CONTROL_ERROR_CODES, ControlError, type ControlErrorCode } from '../src/control/errors.js';
export type {
  CommandExecutor,
  CommandResult,
  ListItem,
  Origin,
} from '../src/control/executor.js';
export { ResourceStore } from '../src/control/store.js';
