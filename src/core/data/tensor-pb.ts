/**
 * ONNX TensorProto `.pb` files as in ONNX's test data: a folder with `input_0.pb`, `input_1.pb`... (one per
 * model input), or a folder of such folders (`test_data_set_0/`, `test_data_set_1/`...), read in natural
 * order. A tensor whose name is a model input feeds that input; an unnamed one feeds the input at its index.
 */
import * as path from 'path';
import { QuantLensError } from '../errors';
import { decodeTensorProto, TensorProto } from '../onnx/proto';
import { tensorFromProto, Tensor } from '../onnx/tensor-data';
import { listFolder, readDataFile } from './files';
import { assertFinite, convertTensor, ModelInput, SampleChunk, samplesOf } from './source';

const INPUT_PB = /^input_(\d+)\.pb$/i;

/** Decodes a TensorProto file into a tensor; damaged or non-tensor files give a QuantLensError naming the file. */
export function readTensorPb(file: string): { name: string; tensor: Tensor } {
  const bytes = readDataFile(file);
  let t: TensorProto;
  try {
    t = decodeTensorProto(bytes);
  } catch (e) {
    throw new QuantLensError('data-corrupt', `not a readable ONNX TensorProto (${e instanceof Error ? e.message : e})`, file);
  }
  if (!t.data_type || !t.dims) throw new QuantLensError('data-corrupt', 'the file is not an ONNX TensorProto (no element type or dims)', file);
  if (t.data_location === 1) throw new QuantLensError('data-unsupported', 'TensorProto files with external data are not supported', file);
  let tensor: Tensor;
  try {
    tensor = tensorFromProto(t);
  } catch (e) {
    throw new QuantLensError('data-unsupported', e instanceof Error ? e.message : String(e), file);
  }
  const expected = (t.dims ?? []).reduce((a, b) => a * Number(b), 1);
  if (tensor.data.length !== expected) {
    throw new QuantLensError('data-corrupt', `the tensor holds ${tensor.data.length} values for dims (${t.dims.join(', ')}), which need ${expected}`, file);
  }
  return { name: t.name ?? '', tensor };
}

/** The sample folders of a `.pb` data folder: itself when it holds `input_*.pb`, else its subfolders that do. */
export function pbSampleFolders(dir: string): string[] {
  const { files, dirs } = listFolder(dir);
  if (files.some((f) => INPUT_PB.test(f))) return [dir];
  return dirs.map((d) => path.join(dir, d)).filter((d) => listFolder(d).files.some((f) => INPUT_PB.test(f)));
}

/** True when `dir` looks like ONNX test data. */
export function isPbFolder(dir: string): boolean {
  return pbSampleFolders(dir).length > 0;
}

/** Chunks per model input from the sample folders (each folder gives each input one chunk). */
export function pbChunks(folders: readonly string[], inputs: readonly ModelInput[]): Map<string, SampleChunk[]> {
  const out = new Map<string, SampleChunk[]>(inputs.map((i) => [i.name, []]));
  for (const folder of folders) {
    const files = listFolder(folder).files.filter((f) => INPUT_PB.test(f));
    const seen = new Set<string>();
    for (const f of files) {
      const file = path.join(folder, f);
      const { name, tensor } = readTensorPb(file);
      const index = Number(INPUT_PB.exec(f)![1]);
      const input = inputs.find((i) => i.name === name) ?? (name && inputs.some((i) => i.name === name) ? undefined : inputs[index]);
      if (!input) throw new QuantLensError('data-layout', `'${f}' matches no model input (the model has ${inputs.length}: ${inputs.map((i) => i.name).join(', ')})`, file);
      if (seen.has(input.name)) throw new QuantLensError('data-layout', `two files in this folder feed input '${input.name}'`, file);
      seen.add(input.name);
      assertFinite(tensor, file);
      const converted = convertTensor(tensor, input.elemType, file, input.name);
      const { count, sampleDims } = samplesOf(input, tensor.dims, file);
      out.get(input.name)!.push({ file, count, sampleDims, load: () => ({ ...converted, dims: [count, ...sampleDims] }) });
    }
    for (const i of inputs) {
      if (!seen.has(i.name)) throw new QuantLensError('data-layout', `no input_<k>.pb file feeds model input '${i.name}'`, folder);
    }
  }
  return out;
}
