/**
 * External tensor data (`data_location = EXTERNAL`): safe path resolution, and lazy access.
 * A loaded model keeps its external tensors as references (never all in memory, never encoded into one protobuf);
 * each reference is registered here with the real file it reads from, and its bytes are read when a value is asked
 * for (tensorProtoData). Encoded derived models keep the references: ONNX Runtime loads them from the model's folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import { QuantLensError } from '../errors';
import { TensorProto } from './proto';

/** Where an external tensor's bytes are: the model's folder, the resolved file, and the byte range in it. */
export interface ExternalRef {
  /** The folder of the model file the reference came from (locations are relative to it). */
  modelDir: string;
  /** The resolved real path of the data file. */
  file: string;
  offset: number;
  length: number;
}

const refs = new WeakMap<TensorProto, ExternalRef>();
const cache = new WeakMap<TensorProto, WeakRef<Uint8Array>>();

/** Resolves an external-data location inside `modelDir`, refusing any path that leaves it. */
export function resolveExternalLocation(modelFile: string, modelDir: string, location: string): string {
  if (!location) throw new QuantLensError('external-data-invalid', 'a tensor has external data without a location', modelFile);
  if (path.isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location)) {
    throw new QuantLensError('external-data-escape', `external data location '${location}' is an absolute path; it must be relative to the model's folder`, modelFile);
  }
  const base = path.resolve(modelDir);
  const resolved = path.resolve(base, location);
  if (!isInside(base, resolved)) {
    throw new QuantLensError('external-data-escape', `external data location '${location}' resolves outside the model's folder (${base})`, modelFile);
  }
  if (!fs.existsSync(resolved)) {
    throw new QuantLensError('external-data-missing', `external data file '${location}' does not exist next to the model`, modelFile);
  }
  const real = fs.realpathSync(resolved);
  if (!isInside(fs.realpathSync(base), real)) {
    throw new QuantLensError('external-data-escape', `external data location '${location}' is a link that leads outside the model's folder (to ${real})`, modelFile);
  }
  return real;
}

function isInside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** True when the tensor keeps its data in an external file. */
export function hasExternalData(t: TensorProto): boolean {
  return t.data_location === 1;
}

/**
 * Checks every external tensor's location and byte range (files opened once) and registers where its bytes are,
 * without reading them. Returns the external bytes in total.
 */
export function registerExternalData(tensors: Iterable<TensorProto>, modelFile: string): number {
  const dir = path.dirname(path.resolve(modelFile));
  const sizes = new Map<string, number>();
  let total = 0;
  for (const t of tensors) {
    if (!hasExternalData(t)) continue;
    const info = new Map((t.external_data ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = info.get('location') ?? '';
    const file = resolveExternalLocation(modelFile, dir, location);
    let size = sizes.get(file);
    if (size === undefined) {
      const st = fs.statSync(file);
      if (!st.isFile()) throw Object.assign(new Error(`'${location}' is not a file`), { code: st.isDirectory() ? 'EISDIR' : 'EINVAL' });
      size = st.size;
      sizes.set(file, size);
    }
    const offset = Number(info.get('offset') ?? 0);
    const length = info.has('length') ? Number(info.get('length')) : size - offset;
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= size)) {
      throw new QuantLensError('external-data-invalid', `tensor '${t.name}' asks for bytes ${offset}..${offset + length} of '${location}', which has ${size} bytes`, modelFile);
    }
    refs.set(t, { modelDir: dir, file, offset, length });
    total += length;
  }
  return total;
}

/** The registered location of an external tensor's bytes (undefined when in memory or never registered). */
export function externalRef(t: TensorProto): ExternalRef | undefined {
  return hasExternalData(t) ? refs.get(t) : undefined;
}

/** Registers `copy` as reading the same bytes as `original` (for TensorProto copies that keep the reference). */
export function shareExternalRef(original: TensorProto, copy: TensorProto): void {
  const r = refs.get(original);
  if (r) refs.set(copy, r);
}

/**
 * The bytes of an external tensor, read from its file (kept while anything still holds them, so that repeated
 * reads of one weight share one buffer). Throws when the tensor was not loaded by loadModelFile.
 */
export function readExternalData(t: TensorProto): Uint8Array {
  const hit = cache.get(t)?.deref();
  if (hit) return hit;
  const r = refs.get(t);
  if (!r) throw new QuantLensError('external-data-unresolved', `tensor '${t.name ?? ''}' keeps its data in an external file, but the model was not loaded from a file, so the file cannot be found`);
  const buf = Buffer.allocUnsafe(r.length);
  readRange(r.file, r.offset, buf);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  cache.set(t, new WeakRef(bytes));
  return bytes;
}

/** Reads `into.byteLength` bytes of `file` from `offset`, in chunks under 1 GiB (fs.readSync's limit is 2 GiB). */
export function readRange(file: string, offset: number, into: Uint8Array): void {
  const fd = fs.openSync(file, 'r');
  try {
    let done = 0;
    while (done < into.byteLength) {
      const n = fs.readSync(fd, into, done, Math.min(into.byteLength - done, 1 << 30), offset + done);
      if (n <= 0) throw new QuantLensError('external-data-invalid', `external data file ended after ${offset + done} bytes`, file);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The model folder ONNX Runtime must resolve external locations from when a model holding these tensors is loaded
 * from bytes; undefined when none is external. Throws when they come from two folders (one session, one folder).
 */
export function externalDataFolder(tensors: Iterable<TensorProto>): string | undefined {
  let dir: string | undefined;
  for (const t of tensors) {
    const r = externalRef(t);
    if (!r) continue;
    if (dir !== undefined && dir !== r.modelDir) throw new QuantLensError('external-data-mixed', `one model refers to external data of two folders (${dir} and ${r.modelDir})`);
    dir = r.modelDir;
  }
  return dir;
}

/** Reads each external tensor's bytes into its raw_data (the tensor becomes an in-memory one). */
export function loadExternalData(tensors: Iterable<TensorProto>, modelFile: string): void {
  const list = [...tensors].filter(hasExternalData);
  registerExternalData(list, modelFile);
  for (const t of list) {
    t.raw_data = readExternalData(t);
    t.data_location = 0;
    t.external_data = [];
  }
}
