/** The DataSource abstraction and the machinery shared by the readers: shape checks, type conversion, batching. */
import { QuantLensError } from '../errors';
import { ValueInfo } from '../onnx/graph';
import { DataType } from '../onnx/proto';
import { dataTypeName, floatToHalf, sizeOf, Tensor, TensorArray, toFloat64 } from '../onnx/tensor-data';
import { DataDescription } from '../../shared/data';

/** A model input as the data readers see it: name, element type and (possibly symbolic) shape. */
export type ModelInput = ValueInfo;

/** One batch of model feeds, with the samples' labels when the source has them. */
export interface DataBatch {
  feeds: Record<string, Tensor>;
  labels?: Int32Array;
}

/** A source of samples for a model: yields batches of feeds (the sample axis is axis 0). */
export interface DataSource {
  readonly description: DataDescription;
  /** Number of samples the source yields in total. */
  samples: number;
  /** Batches of at most `batchSize` samples, in a fixed order (the same on every call). */
  batches(batchSize: number): AsyncIterable<DataBatch>;
}

/** A run of samples of one input held in one file (or generated together): `count` samples of `sampleDims`. */
export interface SampleChunk {
  /** The file the samples come from (named in errors). */
  file: string;
  count: number;
  sampleDims: number[];
  /** Loads the chunk as a tensor of shape [count, ...sampleDims], already in the model input's type. */
  load(): Tensor | Promise<Tensor>;
}

/** Formats a model shape for messages: `(N, 3, 48, 192)`. */
export function shapeText(shape: readonly (number | string)[] | undefined): string {
  if (!shape) return '(unknown)';
  return `(${shape.join(', ')})`;
}

/**
 * Interprets an array read from `file` as samples of `input`: rank = model rank means stacked samples
 * on axis 0, rank = model rank - 1 means one sample. Fixed model dims must match; symbolic dims take any size.
 */
export function samplesOf(input: ModelInput, dims: readonly number[], file: string): { count: number; sampleDims: number[] } {
  const shape = input.shape;
  if (!shape) return { count: 1, sampleDims: dims.slice() };
  let stacked: boolean;
  if (dims.length === shape.length) stacked = true;
  else if (dims.length === shape.length - 1) stacked = false;
  else throw shapeError(input, dims, file, `rank ${dims.length} where the model input has rank ${shape.length}`);
  const sampleDims = stacked ? dims.slice(1) : dims.slice();
  shape.slice(1).forEach((d, i) => {
    if (typeof d === 'number' && d > 0 && d !== sampleDims[i]) throw shapeError(input, dims, file, `axis ${i + 1} is ${sampleDims[i]}, expected ${d}`);
  });
  return { count: stacked ? dims[0] : 1, sampleDims };
}

function shapeError(input: ModelInput, dims: readonly number[], file: string, why: string): QuantLensError {
  return new QuantLensError('data-shape', `data of shape ${shapeText(dims)} does not fit model input '${input.name}' of shape ${shapeText(input.shape)}: ${why}`, file);
}

const FLOAT_TYPES = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);
const INT_TYPES = new Set([DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64, DataType.BOOL]);

/** Converts a tensor read from `file` to the model input's element type (floats to floats, integers to anything numeric). */
export function convertTensor(t: Tensor, target: DataType, file: string, inputName: string): Tensor {
  if (t.type === target) return t;
  const targetOk = FLOAT_TYPES.has(target) || INT_TYPES.has(target);
  if (!targetOk || !(FLOAT_TYPES.has(t.type) || INT_TYPES.has(t.type)) || (FLOAT_TYPES.has(t.type) && INT_TYPES.has(target))) {
    throw new QuantLensError('data-type', `data of element type ${dataTypeName(t.type)} cannot be fed to model input '${inputName}' of type ${dataTypeName(target)}`, file);
  }
  const v = toFloat64(t);
  const n = v.length;
  let data: TensorArray;
  switch (target) {
    case DataType.FLOAT: data = Float32Array.from(v); break;
    case DataType.DOUBLE: data = v; break;
    case DataType.FLOAT16: data = new Uint16Array(n); for (let i = 0; i < n; i++) data[i] = floatToHalf(v[i]); break;
    case DataType.INT64: data = BigInt64Array.from(v, (x) => BigInt(Math.trunc(x))); break;
    case DataType.UINT64: data = BigUint64Array.from(v, (x) => BigInt(Math.trunc(x))); break;
    case DataType.INT32: data = Int32Array.from(v); break;
    case DataType.UINT32: data = Uint32Array.from(v); break;
    case DataType.INT16: data = Int16Array.from(v); break;
    case DataType.UINT16: data = Uint16Array.from(v); break;
    case DataType.INT8: data = Int8Array.from(v); break;
    default: data = Uint8Array.from(v); break;
  }
  return { type: target, dims: t.dims, data };
}

/** Throws a QuantLensError naming `file` when float data holds NaN or infinity. */
export function assertFinite(t: Tensor, file: string): void {
  if (!FLOAT_TYPES.has(t.type)) return;
  const v = t.type === DataType.FLOAT || t.type === DataType.DOUBLE ? (t.data as Float32Array | Float64Array) : toFloat64(t);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) {
      throw new QuantLensError('data-not-finite', `the data holds ${Number.isNaN(v[i]) ? 'NaN' : 'an infinite value'} (at flat index ${i}); clean it before calibration`, file);
    }
  }
}

/** The batch size a model input allows: a fixed first dimension forces it. */
export function effectiveBatchSize(inputs: readonly ModelInput[], requested: number): number {
  for (const i of inputs) {
    const d0 = i.shape?.[0];
    if (typeof d0 === 'number' && d0 > 0) return d0;
  }
  return Math.max(1, Math.floor(requested));
}

function newArray(type: DataType, n: number): TensorArray {
  switch (type) {
    case DataType.FLOAT: return new Float32Array(n);
    case DataType.DOUBLE: return new Float64Array(n);
    case DataType.INT8: return new Int8Array(n);
    case DataType.INT16: return new Int16Array(n);
    case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16: return new Uint16Array(n);
    case DataType.INT32: return new Int32Array(n);
    case DataType.UINT32: return new Uint32Array(n);
    case DataType.INT64: return new BigInt64Array(n);
    case DataType.UINT64: return new BigUint64Array(n);
    default: return new Uint8Array(n);
  }
}

/** What a reader hands over: chunks of samples per model input, the samples' labels, and what the data is. */
export interface SampleRead {
  /** Which data this is; the source adds the counts (`samples`, `labeled`). */
  about: Omit<DataDescription, 'samples' | 'labeled'>;
  chunks: ReadonlyMap<string, readonly SampleChunk[]>;
  labels?: Int32Array;
}

/** The DataSource over what a reader read, using at most `limit` samples (the one place sources are built). */
export function dataSource(read: SampleRead, inputs: readonly ModelInput[], limit?: number): DataSource {
  return new ChunkedDataSource(read, inputs, limit);
}

/**
 * Bytes of loaded chunks a source keeps for its next passes (the first chunks read, never evicted): an analysis reads
 * its data about ten times, and regenerating 16 synthetic 224x224 images each time was 1.5 s of ResNet-50's 38 s.
 */
export const KEPT_CHUNK_BYTES = 32 * 2 ** 20;

/** A DataSource over chunks of samples per input (files or generated blocks), loaded lazily one chunk at a time. */
export class ChunkedDataSource implements DataSource {
  readonly samples: number;
  readonly description: DataDescription;
  private readonly chunks: ReadonlyMap<string, readonly SampleChunk[]>;
  private readonly labels?: Int32Array;
  /** Loaded chunks kept for the next passes (batches copy out of them, so they are never handed out). */
  private readonly kept = new Map<SampleChunk, Tensor>();
  private keptBytes = 0;

  constructor(read: SampleRead, private readonly inputs: readonly ModelInput[], limit?: number) {
    const { about, chunks, labels } = read;
    this.chunks = chunks;
    this.labels = labels;
    let total = -1;
    for (const input of inputs) {
      const list = chunks.get(input.name) ?? [];
      const n = list.reduce((s, c) => s + c.count, 0);
      if (total >= 0 && n !== total) {
        throw new QuantLensError('data-count', `input '${input.name}' has ${n} samples but input '${inputs[0].name}' has ${total}; every input needs the same number`, about.source);
      }
      total = n;
      const first = list[0];
      for (const c of list) {
        if (c.sampleDims.join(',') !== first.sampleDims.join(',')) {
          throw new QuantLensError('data-shape', `samples of shape ${shapeText(c.sampleDims)} differ from the first file's ${shapeText(first.sampleDims)} (${first.file}) for input '${input.name}'`, c.file);
        }
      }
    }
    if (total <= 0) throw new QuantLensError('data-empty', 'the data source has no samples', about.source);
    if (labels && labels.length !== total) {
      throw new QuantLensError('data-labels', `there are ${labels.length} labels for ${total} samples`, about.source);
    }
    this.samples = limit !== undefined && limit > 0 ? Math.min(limit, total) : total;
    const fixed = inputs.find((i) => typeof i.shape?.[0] === 'number' && (i.shape[0] as number) > 1);
    if (fixed && this.samples < (fixed.shape![0] as number)) {
      throw new QuantLensError('data-count', `model input '${fixed.name}' has a fixed batch size of ${fixed.shape![0]} but the data gives only ${this.samples} sample${this.samples === 1 ? '' : 's'}`, about.source);
    }
    if (fixed) this.samples -= this.samples % (fixed.shape![0] as number); // whole batches only
    this.description = { ...about, samples: this.samples, labeled: !!labels };
  }

  async *batches(batchSize: number): AsyncIterable<DataBatch> {
    const bs = effectiveBatchSize(this.inputs, batchSize);
    const cursors = new Map(this.inputs.map((i) => [i.name, { chunk: -1, start: 0, tensor: undefined as Tensor | undefined }]));
    for (let s = 0; s + (bs > 1 && this.isFixedBatch() ? bs : 1) <= this.samples; s += bs) {
      const n = Math.min(bs, this.samples - s);
      const feeds: Record<string, Tensor> = {};
      for (const input of this.inputs) {
        const list = this.chunks.get(input.name)!;
        const sampleDims = list[0].sampleDims;
        const per = sizeOf(sampleDims);
        const out = newArray(input.elemType, per * n);
        const cur = cursors.get(input.name)!;
        for (let k = 0; k < n; k++) {
          const idx = s + k;
          // advance the chunk cursor until it holds sample idx (samples are read in order)
          while (cur.chunk < 0 || idx >= cur.start + list[cur.chunk].count) {
            if (cur.chunk >= 0) cur.start += list[cur.chunk].count;
            cur.chunk++;
            cur.tensor = undefined;
          }
          cur.tensor ??= await this.load(list[cur.chunk]);
          const off = (idx - cur.start) * per;
          (out as Float32Array).set((cur.tensor.data as Float32Array).subarray(off, off + per), k * per);
        }
        feeds[input.name] = { type: input.elemType, dims: [n, ...sampleDims], data: out };
      }
      yield { feeds, labels: this.labels ? this.labels.slice(s, s + n) : undefined };
    }
  }

  /** A chunk's tensor: kept from an earlier pass, or loaded (and kept while they fit in KEPT_CHUNK_BYTES). */
  private async load(chunk: SampleChunk): Promise<Tensor> {
    const held = this.kept.get(chunk);
    if (held) return held;
    const t = await chunk.load();
    if (this.keptBytes + t.data.byteLength <= KEPT_CHUNK_BYTES) {
      this.kept.set(chunk, t);
      this.keptBytes += t.data.byteLength;
    }
    return t;
  }

  private isFixedBatch(): boolean {
    return this.inputs.some((i) => typeof i.shape?.[0] === 'number' && (i.shape[0] as number) > 0);
  }
}
