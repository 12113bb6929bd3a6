/** External tensor data (`data_location = EXTERNAL`): safe path resolution and loading into raw_data. */
import * as fs from 'fs';
import * as path from 'path';
import { QuantLensError } from '../errors';
import { TensorProto } from './proto';

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

/** Reads each external tensor's bytes into its raw_data (one read per tensor; files opened once). */
export function loadExternalData(tensors: Iterable<TensorProto>, modelFile: string): void {
  const dir = path.dirname(modelFile);
  const fds = new Map<string, number>();
  try {
    for (const t of tensors) {
      if (!hasExternalData(t)) continue;
      const info = new Map((t.external_data ?? []).map((e) => [e.key ?? '', e.value ?? '']));
      const file = resolveExternalLocation(modelFile, dir, info.get('location') ?? '');
      let fd = fds.get(file);
      if (fd === undefined) { fd = fs.openSync(file, 'r'); fds.set(file, fd); }
      const size = fs.fstatSync(fd).size;
      const offset = Number(info.get('offset') ?? 0);
      const length = info.has('length') ? Number(info.get('length')) : size - offset;
      if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
        throw new QuantLensError('external-data-invalid', `tensor '${t.name}' asks for bytes ${offset}..${offset + length} of '${info.get('location')}', which has ${size} bytes`, modelFile);
      }
      const buf = Buffer.allocUnsafe(length);
      fs.readSync(fd, buf, 0, length, offset);
      t.raw_data = buf;
      t.data_location = 0;
      t.external_data = [];
    }
  } finally {
    for (const fd of fds.values()) fs.closeSync(fd);
  }
}
