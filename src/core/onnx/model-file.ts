/** Reading ONNX model files with clear errors, and writing them atomically (with external data when over 2 GiB). */
import * as fs from 'fs';
import * as path from 'path';
import { isQuantLensError, QuantLensError } from '../errors';
import { externalRef, hasExternalData, readRange, registerExternalData } from './external-data';
import { DataType, decodeModelProto, encodedModelOf, encodeModelProto, GraphProto, ModelProto, modelTensors, NodeProto, PROTOBUF_LIMIT, TensorProto } from './proto';
import { elementSize } from './tensor-data';

/**
 * Decodes ONNX bytes, checking that they are a model; `file` is used in error messages. With `inPlace` the bytes are
 * the caller's to change (a file just read): misaligned weights are moved within them rather than copied out.
 */
export function parseModel(bytes: Uint8Array, file: string, o: { inPlace?: boolean } = {}): ModelProto {
  if (bytes.byteLength === 0) throw new QuantLensError('model-corrupt', 'the file is empty', file);
  let model: ModelProto;
  try {
    model = decodeModelProto(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (/max depth exceeded|call stack/i.test(why)) {
      throw new QuantLensError('model-too-deep', 'the model nests subgraphs (If/Loop/Scan bodies) deeper than the protobuf reader\'s depth limit of 100 nested messages (about 33 nested subgraphs); it may be valid, but QuantLens cannot read it', file);
    }
    throw new QuantLensError('model-corrupt', `not a readable ONNX model: the protobuf data is damaged or truncated (${why})`, file);
  }
  const ir = Number(model.ir_version ?? 0);
  if (!model.graph || !(ir >= 1 && ir <= 20) || !model.opset_import?.length) {
    throw new QuantLensError('model-not-onnx', 'the file is valid protobuf but not an ONNX model (no graph, IR version or opset import)', file);
  }
  if (!model.graph.node?.length) throw new QuantLensError('model-not-onnx', 'the model graph has no nodes', file);
  // weights in place: moved once when protobuf left them where their type cannot be viewed (within the file's bytes,
  // or into a buffer of their own, the file's bytes then let go: attribute strings and the like were views on them too)
  if (!(o.inPlace && alignTensorDataInPlace(model, bytes)) && alignTensorData(model)) ownModelBytes(model, bytes.buffer);
  return model;
}

/** Alignment of the tensor data alignTensorData moves (a cache line: any element type reads in place). */
const TENSOR_ALIGN = 64;

/**
 * Moves a model's in-memory tensor data into one fresh buffer, each tensor aligned, when some tensor's data sits at an
 * offset its element type cannot be viewed at (protobuf places raw_data anywhere in the file). Otherwise every read of
 * such a weight copies it: a BERT-base file's weights were copied again on each read, 1.7 s of an analysis and
 * weight-sized garbage, and the analysis kept a second copy of every weight (ResNet-50 82 of 98 MB, BERT 162 of 199 MB).
 * All tensors move. True when they moved.
 */
export function alignTensorData(model: ModelProto): boolean {
  const tensors = [...allTensors(model.graph ?? {})].filter((t) => !hasExternalData(t) && t.raw_data?.byteLength);
  const misplaced = tensors.some((t) => t.raw_data!.byteOffset % Math.max(1, elementSize((t.data_type ?? 0) as DataType)) !== 0);
  if (!misplaced) return false;
  const at = (n: number) => Math.ceil(n / TENSOR_ALIGN) * TENSOR_ALIGN;
  const buffer = new Uint8Array(tensors.reduce((s, t) => s + at(t.raw_data!.byteLength), 0));
  let offset = 0;
  for (const t of tensors) {
    const n = t.raw_data!.byteLength;
    buffer.set(t.raw_data!, offset);
    t.raw_data = buffer.subarray(offset, offset + n);
    offset += at(n);
  }
  return true;
}

/**
 * alignTensorData within the decoded bytes themselves: each misplaced tensor's data moves down to the nearest offset
 * its element type can be viewed at (memmove over the protobuf bytes before it, in file order), and every other view
 * on the bytes (names, attribute strings) gets its own copy first. No weight-sized buffer is allocated and faulted in
 * (ViT-B/16: 344 MB, 1.3 s of its load). False, with nothing changed, when a tensor is not a view on `bytes` or two
 * would overlap.
 */
export function alignTensorDataInPlace(model: ModelProto, bytes: Uint8Array): boolean {
  const buf = bytes.buffer;
  const tensors = [...allTensors(model.graph ?? {})].filter((t) => !hasExternalData(t) && t.raw_data?.byteLength)
    .sort((a, b) => a.raw_data!.byteOffset - b.raw_data!.byteOffset);
  if (tensors.some((t) => t.raw_data!.buffer !== buf)) return false;
  const to: number[] = [];
  let end = bytes.byteOffset;
  for (const t of tensors) {
    const size = Math.max(1, elementSize((t.data_type ?? 0) as DataType)), at = Math.floor(t.raw_data!.byteOffset / size) * size;
    if (at < end) return false;
    to.push(at);
    end = at + t.raw_data!.byteLength;
  }
  if (tensors.every((t, i) => t.raw_data!.byteOffset === to[i])) return true;
  ownModelBytes(model, buf, new Set(tensors.map((t) => t.raw_data!)));
  const all = new Uint8Array(buf);
  tensors.forEach((t, i) => {
    const from = t.raw_data!.byteOffset, n = t.raw_data!.byteLength;
    if (from !== to[i]) all.copyWithin(to[i], from, from + n);
    t.raw_data = all.subarray(to[i], to[i] + n);
  });
  return true;
}

/** Every TensorProto in a graph and its subgraphs: initializers and Constant/attribute tensors. */
export const allTensors = modelTensors;

/**
 * Loads a model file; the file's bytes back every in-file weight (no copy). External data is checked (locations
 * inside the model's folder, byte ranges inside the files) and left on disk: values are read when asked for.
 */
export function loadModelFile(file: string): ModelProto {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : code === 'EISDIR' ? 'this is a folder, not a model file' : code === 'ERR_FS_FILE_TOO_LARGE' ? 'the file is over 2 GiB; models this large keep their weights in external data files' : `cannot be read (${code ?? e})`;
    throw new QuantLensError('model-unreadable', why, file);
  }
  const model = parseModel(bytes, file, { inPlace: true });
  try {
    registerExternalData(allTensors(model.graph!), file);
  } catch (e) {
    if (isQuantLensError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new QuantLensError('external-data-unreadable', `the model's external data cannot be read (${code ?? (e instanceof Error ? e.message : e)})`, file);
  }
  return model;
}

/** Bytes of tensor data a model holds: in memory plus in external files. */
export function modelDataBytes(model: ModelProto): { inMemory: number; external: number } {
  let inMemory = 0, external = 0;
  for (const t of allTensors(model.graph ?? {})) {
    if (hasExternalData(t)) external += externalRef(t)?.length ?? 0;
    else inMemory += t.raw_data?.byteLength ?? 0;
  }
  return { inMemory, external };
}

/** A model's size on disk: the .onnx file plus the external data it refers to. */
export function modelFileSize(file: string, model: ModelProto): number {
  return fs.statSync(file).size + modelDataBytes(model).external;
}

/** Tensors at least this large go to the external data file when a model is saved with external data. */
const EXTERNAL_MIN_BYTES = 1024;
/** External tensors start at multiples of this (page size: ONNX Runtime can map them). */
const EXTERNAL_ALIGN = 4096;

/** Options of saveModelFile. */
export interface SaveModelOptions {
  /** Write external data when the tensor data reaches this many bytes (default: just under protobuf's 2 GiB). */
  externalThreshold?: number;
}

/** What saveModelFile wrote. */
export interface SavedModel {
  /** Bytes of the .onnx file. */
  modelBytes: number;
  /** The external data file beside it, when one was written. */
  dataFile?: string;
  /** Bytes of the external data file (0 when none). */
  dataBytes: number;
}

/**
 * Writes a model atomically (temporary files in the target's folder, then renamed). A model whose tensor data stays
 * under the threshold is written as one file, external tensors read into it. A larger one is written with its big
 * tensors in `<file name>.data` beside it (in the output's folder only), page-aligned, copied from the source's
 * external files in chunks, so no step holds the whole model in memory or builds a protobuf over 2 GiB.
 */
export function saveModelFile(file: string, model: ModelProto, opts: SaveModelOptions = {}): SavedModel {
  const { inMemory, external } = modelDataBytes(model);
  const threshold = opts.externalThreshold ?? PROTOBUF_LIMIT - (64 << 20);
  if (inMemory + external < threshold) {
    const bytes = encodeModelProto(mapTensors(model, (t) => (externalRef(t) ? inMemoryCopy(t) : t)));
    writeFileAtomic(file, bytes);
    return { modelBytes: bytes.byteLength, dataBytes: 0 };
  }
  return saveWithExternalData(file, model);
}

/**
 * Writes model bytes from encodeModelProto: as they are when self-contained; through saveModelFile when they refer
 * to external data (read into the file, or copied beside it when over 2 GiB). Returns the bytes written in total.
 */
export function saveEncodedModel(file: string, bytes: Uint8Array): number {
  const model = encodedModelOf(bytes);
  if (!model) { writeFileAtomic(file, bytes); return bytes.byteLength; }
  const saved = saveModelFile(file, model);
  return saved.modelBytes + saved.dataBytes;
}

function saveWithExternalData(file: string, model: ModelProto): SavedModel {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const dataName = `${path.basename(file)}.data`;
  const dataFile = path.join(dir, dataName);
  for (const t of allTensors(model.graph ?? {})) {
    const r = externalRef(t);
    if (r && fs.existsSync(dataFile) && r.file === fs.realpathSync(dataFile)) {
      throw new QuantLensError('output-overwrites-input', `the output's data file ${dataName} is the external data the model is read from; write to another file name`, file);
    }
  }
  const stamp = `${process.pid}.${Date.now()}`;
  const tmpData = path.join(dir, `.${dataName}.${stamp}.tmp`);
  const tmpModel = path.join(dir, `.${path.basename(file)}.${stamp}.tmp`);
  const fd = fs.openSync(tmpData, 'w');
  let offset = 0;
  try {
    const chunk = Buffer.allocUnsafe(64 << 20);
    const written = mapTensors(model, (t) => {
      const r = externalRef(t);
      if (!r && hasExternalData(t)) return t; // a reference the caller wrote, not loaded from a file: kept as given
      const length = r ? r.length : t.raw_data?.byteLength ?? 0;
      if (length < EXTERNAL_MIN_BYTES) return r ? inMemoryCopy(t) : t;
      offset = Math.ceil(offset / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      if (r) {
        for (let done = 0; done < length;) {
          const n = Math.min(chunk.byteLength, length - done);
          readRange(r.file, r.offset + done, chunk.subarray(0, n));
          writeAll(fd, chunk.subarray(0, n), offset + done);
          done += n;
        }
      } else writeAll(fd, t.raw_data!, offset);
      const copy: TensorProto = { ...t, raw_data: undefined, data_location: 1, external_data: [{ key: 'location', value: dataName }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }] };
      offset += length;
      return copy;
    });
    fs.closeSync(fd);
    const bytes = encodeModelProto(written);
    fs.writeFileSync(tmpModel, bytes);
    fs.renameSync(tmpData, dataFile);
    fs.renameSync(tmpModel, file);
    return { modelBytes: bytes.byteLength, dataFile, dataBytes: offset };
  } catch (e) {
    try { fs.closeSync(fd); } catch { /* already closed */ }
    fs.rmSync(tmpData, { force: true });
    fs.rmSync(tmpModel, { force: true });
    throw e;
  }
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.byteLength;) done += fs.writeSync(fd, data, done, Math.min(data.byteLength - done, 1 << 30), position + done);
}

/** A copy of a loaded external tensor with its bytes read into raw_data. */
function inMemoryCopy(t: TensorProto): TensorProto {
  const r = externalRef(t);
  if (!r) throw new QuantLensError('external-data-unresolved', `tensor '${t.name ?? ''}' keeps its data in an external file that was never loaded`);
  const raw = Buffer.allocUnsafe(r.length);
  readRange(r.file, r.offset, raw);
  return { ...t, raw_data: raw, data_location: 0, external_data: [] };
}

/** A shallow copy of the model with every tensor (initializers, Constant and subgraph tensors) passed through `fn`. */
function mapTensors(model: ModelProto, fn: (t: TensorProto) => TensorProto): ModelProto {
  const mapGraph = (g: GraphProto): GraphProto => ({
    ...g,
    initializer: (g.initializer ?? []).map(fn),
    node: (g.node ?? []).map((n): NodeProto => (n.attribute?.some((a) => a.t || a.tensors?.length || a.g || a.graphs?.length)
      ? { ...n, attribute: n.attribute.map((a) => ({ ...a, t: a.t ? fn(a.t) : a.t, tensors: a.tensors?.map(fn), g: a.g ? mapGraph(a.g) : a.g, graphs: a.graphs?.map(mapGraph) })) }
      : n)),
  });
  return { ...model, graph: mapGraph(model.graph ?? {}) };
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

/**
 * Gives every bytes field of a decoded model that is a view on `source` (the file's bytes: attribute strings, tensor
 * data) its own buffer, in place, so that the file's buffer becomes garbage. Same bytes, same model. Views in `keep` stay.
 */
export function ownModelBytes(model: ModelProto, source: ArrayBufferLike, keep?: ReadonlySet<Uint8Array>): void {
  // a plain Uint8Array copy (a Buffer's slice would be another view on the file); `keep`: views left as they are
  const own = (b: Uint8Array) => (b.buffer === source && !keep?.has(b) ? new Uint8Array(b) : b);
  const visit = (o: unknown): void => {
    if (!o || typeof o !== 'object' || ArrayBuffer.isView(o)) return;
    const r = o as Record<string, unknown>;
    for (const [k, v] of Object.entries(r)) {
      if (v instanceof Uint8Array) r[k] = own(v);
      else if (Array.isArray(v)) v.forEach((x, i) => { if (x instanceof Uint8Array) v[i] = own(x); else visit(x); });
      else visit(v);
    }
  };
  visit(model);
}
