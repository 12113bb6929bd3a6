/**
 * `.npy` data folders. Layout: for a model with one input, the folder's `*.npy` files (or those of a
 * subfolder named after the input); for several inputs, one subfolder per input name (characters other than
 * letters, digits, `.`, `_` and `-` replaced by `_`), with the same number of samples in each. Each file
 * holds one sample (rank = model rank - 1) or several stacked on axis 0 (rank = model rank). Files are read
 * in natural name order. Labels: `labels.npy` (integers, one per sample, same order) or an explicit path.
 */
import * as path from 'path';
import { QuantLensError } from '../errors';
import { DataType } from '../onnx/proto';
import { toFloat64 } from '../onnx/tensor-data';
import { extOf, listFolder, readDataFile } from './files';
import { parseNpy, parseNpyHeader } from './npy';
import { assertFinite, convertTensor, ModelInput, SampleChunk, samplesOf } from './source';

/** The file name of the labels in a data folder. */
export const LABELS_FILE = 'labels.npy';

/** A folder name for a model input (`x:0` becomes `x_0`). */
export function inputFolderName(input: string): string {
  return input.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The `.npy` files of a folder, without the labels file, in natural order. */
export function npyFiles(dir: string): string[] {
  return listFolder(dir).files.filter((f) => extOf(f) === 'npy' && f !== LABELS_FILE).map((f) => path.join(dir, f));
}

/** Chunks of one input from `.npy` files: headers are checked now, data is read when a batch needs it. */
export function npyChunks(files: readonly string[], input: ModelInput): SampleChunk[] {
  return files.map((file) => {
    const header = parseNpyHeader(readDataFile(file), file);
    const { count, sampleDims } = samplesOf(input, header.shape, file);
    return {
      file, count, sampleDims,
      load: () => {
        const t = parseNpy(readDataFile(file), file);
        assertFinite(t, file);
        return convertTensor(t, input.elemType, file, input.name);
      },
    };
  });
}

/** The per-input `.npy` files of a data folder, following the layout described above. */
export function npyLayout(dir: string, inputs: readonly ModelInput[]): Map<string, string[]> {
  const { dirs } = listFolder(dir);
  const out = new Map<string, string[]>();
  if (inputs.length === 1) {
    const sub = inputFolderName(inputs[0].name);
    const direct = npyFiles(dir);
    out.set(inputs[0].name, direct.length === 0 && dirs.includes(sub) ? npyFiles(path.join(dir, sub)) : direct);
    return out;
  }
  for (const input of inputs) {
    const sub = inputFolderName(input.name);
    if (!dirs.includes(sub)) {
      throw new QuantLensError('data-layout', `the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}): put each input's .npy files in a subfolder named after it; '${sub}/' is missing`, dir);
    }
    out.set(input.name, npyFiles(path.join(dir, sub)));
  }
  return out;
}

/** Reads integer labels from a `.npy` file (shape [N] or [N, 1]). */
export function readLabels(file: string): Int32Array {
  const t = parseNpy(readDataFile(file), file);
  if (t.type === DataType.FLOAT || t.type === DataType.DOUBLE || t.type === DataType.FLOAT16) {
    throw new QuantLensError('data-labels', `labels must be integers (class indices), this file holds ${DataType[t.type].toLowerCase()} values`, file);
  }
  if (!(t.dims.length === 1 || (t.dims.length === 2 && t.dims[1] === 1))) {
    throw new QuantLensError('data-labels', `labels must have shape (N,) or (N, 1), this file has (${t.dims.join(', ')})`, file);
  }
  return Int32Array.from(toFloat64(t));
}
