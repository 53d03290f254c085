import { codedError, type ErrorCodeTable } from '../fd/errors.js';

/** The codes the mesh raises (src/mesh); each has one meaning. */
export const MESH_ERROR_CODES = {
  ERR_MESH_NAME_INVALID: 'a service, zone or node id that cannot be a key segment',
  ERR_MESH_VALUE_INVALID:
    'a registry value that is not a service instance we can read (or one we refuse to write)',
  ERR_MESH_NIC_NOT_FOUND: 'a NIC name with no such interface, or no address of the asked family',
  ERR_MESH_UNAVAILABLE:
    'the registry could not be reached (no quorum, every endpoint down, a deadline passed)',
  ERR_MESH_CLOSED: 'the registry or delegate was closed',
} as const satisfies ErrorCodeTable;

export type MeshErrorCode = keyof typeof MESH_ERROR_CODES;

/** Errors of src/mesh: a VproxyError whose code says which of the above happened. */
export class MeshError extends codedError('MeshError', MESH_ERROR_CODES) {}
