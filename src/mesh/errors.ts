import { VproxyError } from '../fd/errors.js';

/** The codes the mesh raises; each has one meaning. */
export type MeshErrorCode =
  /** A service, zone or node id that cannot be a key segment. */
  | 'ERR_MESH_NAME_INVALID'
  /** A registry value that is not a service instance we can read (or an instance we refuse to write). */
  | 'ERR_MESH_VALUE_INVALID'
  /** A NIC name with no such interface, or no address of the asked family. */
  | 'ERR_MESH_NIC_NOT_FOUND'
  /** The registry could not be reached (no quorum, every endpoint down, a deadline passed). */
  | 'ERR_MESH_UNAVAILABLE'
  /** The registry or delegate was closed. */
  | 'ERR_MESH_CLOSED';

/** Errors of src/mesh: a VproxyError whose code says which of the above happened. */
export class MeshError extends VproxyError {
  declare readonly code: MeshErrorCode;

  constructor(code: MeshErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'MeshError';
  }
}
