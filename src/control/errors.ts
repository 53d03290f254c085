import { codedError, type ErrorCodeTable } from '../fd/errors.js';

/** Codes of the control plane (src/control): the command language, its executor and controllers. */
export const CONTROL_ERROR_CODES = {
  ERR_COMMAND_INVALID: 'a command, action or argument the command language does not have',
  ERR_IN_USE: 'a remove (or force-remove) of a resource another resource uses',
  ERR_CONFIG_INVALID: 'a config that would not load: save refuses to write it',
  ERR_FORBIDDEN: 'a command this controller or client may not run',
  ERR_INTERNAL: 'a command failed for a reason nobody foresaw; the message carries the cause',
  ERR_REQUEST_INVALID: 'a malformed HTTP request to a controller',
  ERR_CONTENT_TYPE_INVALID: 'an HTTP controller write without a JSON body',
  ERR_AUTH_THROTTLED: 'a client throttled after failed authentications',
  ERR_UNAUTHORIZED: 'an HTTP controller request without the right bearer token',
  ERR_METHOD_NOT_ALLOWED: 'an HTTP method a status page route does not serve',
} as const satisfies ErrorCodeTable;

export type ControlErrorCode = keyof typeof CONTROL_ERROR_CODES;

export class ControlError extends codedError('ControlError', CONTROL_ERROR_CODES) {}
