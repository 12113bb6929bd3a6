/** Reading ONNX model files with clear errors, and writing them atomically. */
import * as fs from 'fs';
import * as path from 'path';
import { isQuantLensError, QuantLensError } from '../errors';
import { loadExternalData } from './external-data';
import { decodeModelProto, encodeModelProto, GraphProto, ModelProto, TensorProto } from './proto';

/** Decodes ONNX bytes, checking that they are a model; `file` is used in error messages. */
export function parseModel(bytes: Uint8Array, file: string): ModelProto {
  if (bytes.byteLength === 0) throw new QuantLensError('model-corrupt', 'the file is empty', file);
  let model: ModelProto;
  try {
    model = decodeModelProto(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new QuantLensError('model-corrupt', `not a readable ONNX model: the protobuf data is damaged or truncated (${why})`, file);
  }
  const ir = Number(model.ir_version ?? 0);
  if (!model.graph || !(ir >= 1 && ir <= 20) || !model.opset_import?.length) {
    throw new QuantLensError('model-not-onnx', 'the file is valid protobuf but not an ONNX model (no graph, IR version or opset import)', file);
  }
  if (!model.graph.node?.length) throw new QuantLensError('model-not-onnx', 'the model graph has no nodes', file);
  return model;
}

/** Every TensorProto in a graph and its subgraphs: initializers and Constant/attribute tensors. */
export function* allTensors(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer ?? [];
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t) yield a.t;
      yield* a.tensors ?? [];
      if (a.g) yield* allTensors(a.g);
      for (const g of a.graphs ?? []) yield* allTensors(g);
    }
  }
}

/** Loads a model file and its external data; the file's bytes back every in-file weight (no copy). */
export function loadModelFile(file: string): ModelProto {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : code === 'EISDIR' ? 'this is a folder, not a model file' : `cannot be read (${code ?? e})`;
    throw new QuantLensError('model-unreadable', why, file);
  }
  const model = parseModel(bytes, file);
  try {
    loadExternalData(allTensors(model.graph!), file);
  } catch (e) {
    if (isQuantLensError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new QuantLensError('external-data-unreadable', `the model's external data cannot be read (${code ?? (e instanceof Error ? e.message : e)})`, file);
  }
  return model;
}

/** Writes a model atomically: to a temporary file beside the target, then renamed over it. */
export function saveModelFile(file: string, model: ModelProto): void {
  writeFileAtomic(file, encodeModelProto(model));
}

/** Writes bytes atomically (temp file + rename), so a crash or cancel never leaves a half-written file. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
