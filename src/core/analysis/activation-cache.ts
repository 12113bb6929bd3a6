/**
 * FP32 activations captured once per data batch by a separate session (the model with the needed tensors
 * added as outputs: that blocks fusion, so the main session never gets them), kept in memory up to a budget
 * and spilled to a temporary folder beyond it; released on dispose.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { QuantLensError } from '../errors';
import { Graph } from '../onnx/graph';
import { DataType, encodeModelProto, ModelProto } from '../onnx/proto';
import { Tensor, TensorArray } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { DataSource } from '../data/source';

/** Default memory budget of the cache: 512 MiB. */
export const DEFAULT_MEMORY_BUDGET = 512 * 1024 * 1024;


/** Options of ActivationCache.capture. */
export interface CaptureOptions {
  graph: Graph;
  backend: InferenceBackend;
  data: DataSource;
  /** Intermediate tensors to keep (graph inputs and outputs are always kept). */
  tensors: Iterable<string>;
  /** Intermediate tensors fetched and handed to `observe` batch by batch, not kept (statistics, calibration). */
  observed?: Iterable<string>;
  observe?: (name: string, value: Tensor) => void;
  batchSize?: number;
  memoryBudgetBytes?: number;
  threads?: number;
  executionProviders?: readonly string[];
  signal?: AbortSignal;
  /** Called after each captured batch. */
  onBatch?: (done: number) => void;
  /** Bytes of one sample of a tensor, where known (shape inference): splits the fetches of a batch into runs of at most `fetchBytesPerRun`. */
  bytesPerSample?: (tensor: string) => number | undefined;
  /**
   * Fetched bytes one capture run may return (default: the memory budget). Over it a batch runs several times, each
   * fetching the next tensors in graph order; ONNX Runtime runs the whole graph each time, so this costs a pass per
   * extra run (on ViT-B/16, 96 MB per run made the calibration pass 16 runs instead of 2: +25 s).
   */
  fetchBytesPerRun?: number;
}

type Entry = { tensor: Tensor } | { file: string; type: DataType; dims: number[] };

/** Throws the signal's reason (an AbortError) when it is aborted. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) {
    const e = new Error('the analysis was cancelled');
    e.name = 'AbortError';
    throw e;
  }
}

/** Cached float-model tensors per batch: graph inputs, requested intermediates and graph outputs. */
export class ActivationCache {
  private readonly entries: Map<string, Entry>[] = [];
  private readonly labelList: (Int32Array | undefined)[] = [];
  private readonly sampleCounts: number[] = [];
  private dir?: string;
  private bytesInMemory = 0;
  private bytesOnDisk = 0;
  private spilled = 0;
  /** Wall time of the capture runs alone (ms). */
  captureRunMs = 0;

  private constructor(private readonly budget: number) {}

  /** Runs the float model once over the data and keeps the requested tensors of every batch. */
  static async capture(o: CaptureOptions): Promise<ActivationCache> {
    const cache = new ActivationCache(o.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET);
    try {
      await cache.pass(o, true);
    } catch (e) {
      cache.dispose();
      throw e;
    }
    if (!cache.entries.length) throw new QuantLensError('data-empty', 'the data source yielded no samples', o.data.description.source);
    return cache;
  }

  /** Adds tensors to the cache with one more float pass over the same data and batch size (those already held are skipped). */
  async extend(o: CaptureOptions): Promise<void> {
    const missing = [...new Set(o.tensors)].filter((t) => !this.has(t));
    if (!missing.length) return;
    await this.pass({ ...o, tensors: missing }, false);
  }

  private async pass(o: CaptureOptions, first: boolean): Promise<void> {
    const { graph } = o;
    const inputNames = new Set(graph.inputs.map((i) => i.name));
    const outputs = first ? graph.outputs.map((v) => v.name) : [];
    const kept = new Set(o.tensors);
    const observedSet = new Set(o.observed ?? []);
    const extra = [...new Set([...kept, ...(o.observed ?? [])])].filter((t) => t && !inputNames.has(t) && !graph.outputs.some((v) => v.name === t) && !graph.isConstant(t));
    const model: ModelProto = {
      ...graph.model,
      graph: { ...graph.model.graph, output: [...(first ? graph.model.graph!.output ?? [] : []), ...extra.map((name) => ({ name }))] },
    };
    if (!first && !extra.length) return;
    const session = await o.backend.createSession(encodeModelProto(model), { optimization: 'all', threads: o.threads, executionProviders: o.executionProviders });
    const fetches = [...outputs, ...extra];
    const groups = fetchGroups(graph, outputs, extra, o.batchSize ?? 8, o.fetchBytesPerRun ?? this.budget, o.bytesPerSample);
    try {
      let b = 0;
      for await (const batch of o.data.batches(o.batchSize ?? 8)) {
        throwIfAborted(o.signal);
        if (first) checkFeeds(graph, batch.feeds, o.data.description.source);
        const t0 = performance.now();
        // observed-only tensors are handed over and dropped run by run; kept ones and outputs are collected
        const result: Record<string, Tensor> = {};
        for (const group of groups) {
          const r = await session.run(batch.feeds, group);
          for (const k of group) {
            if (!r[k]) continue;
            if (o.observe && observedSet.has(k) && groups.length > 1) o.observe(k, r[k]);
            if (groups.length === 1 || outputs.includes(k) || kept.has(k)) result[k] = r[k];
          }
        }
        this.captureRunMs += performance.now() - t0;
        let map = this.entries[b];
        if (first) {
          map = new Map<string, Entry>();
          this.entries.push(map);
          for (const [k, v] of Object.entries(batch.feeds)) this.put(map, b, k, v);
          this.labelList.push(batch.labels);
          this.sampleCounts.push(firstDim(batch.feeds));
        } else if (!map) throw new Error('the data yielded more batches than when the cache was captured');
        for (const k of fetches) if (result[k] && (first && outputs.includes(k) || kept.has(k))) this.put(map, b, k, result[k]);
        if (o.observe) for (const k of observedSet) { const t = groups.length > 1 ? (result[k] ? undefined : batch.feeds[k]) : result[k] ?? batch.feeds[k]; if (t) o.observe(k, t); }
        b++;
        o.onBatch?.(b);
      }
    } finally {
      await session.release();
    }
  }

  /** Number of cached batches. */
  get batches(): number {
    return this.entries.length;
  }

  /** Total samples over all batches. */
  get samples(): number {
    return this.sampleCounts.reduce((a, b) => a + b, 0);
  }

  /** Bytes held in memory and on disk. */
  get usage(): { memory: number; disk: number } {
    return { memory: this.bytesInMemory, disk: this.bytesOnDisk };
  }

  /** Labels of batch `b`, when the data has labels. */
  labels(b: number): Int32Array | undefined {
    return this.labelList[b];
  }

  /** Replaces the labels with one label per sample (in data order). */
  setLabels(labels: Int32Array): void {
    let off = 0;
    this.sampleCounts.forEach((n, b) => { this.labelList[b] = labels.slice(off, off + n); off += n; });
  }

  /** True when tensor `name` was captured. */
  has(name: string): boolean {
    return this.entries.length > 0 && this.entries[0].has(name);
  }

  /** The cached value of `name` in batch `b` (read back from disk when it was spilled). */
  get(b: number, name: string): Tensor {
    const e = this.entries[b]?.get(name);
    if (!e) throw new Error(`activation '${name}' of batch ${b} was not captured`);
    if ('tensor' in e) return e.tensor;
    const bytes = fs.readFileSync(e.file);
    return { type: e.type, dims: e.dims, data: typedArray(e.type, bytes) };
  }

  /** Several cached tensors of batch `b` as a feed record. */
  feeds(b: number, names: Iterable<string>): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const n of names) out[n] = this.get(b, n);
    return out;
  }

  /** Frees memory and deletes the spill folder. */
  dispose(): void {
    this.entries.length = 0;
    this.bytesInMemory = 0;
    if (this.dir) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      this.dir = undefined;
    }
  }

  private put(map: Map<string, Entry>, b: number, name: string, t: Tensor): void {
    const bytes = t.data.byteLength;
    if (this.bytesInMemory + bytes <= this.budget) {
      map.set(name, { tensor: t });
      this.bytesInMemory += bytes;
      return;
    }
    this.dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'quantlens-act-'));
    const file = path.join(this.dir, `b${b}_${this.spilled++}.bin`);
    fs.writeFileSync(file, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    this.bytesOnDisk += bytes;
    map.set(name, { file, type: t.type, dims: t.dims.slice() });
  }
}

function firstDim(feeds: Record<string, Tensor>): number {
  const t = Object.values(feeds)[0];
  return t?.dims.length ? t.dims[0] : 1;
}

/** Checks a batch against the model inputs: every input present, fixed dims equal, float values finite. */
export function checkFeeds(graph: Graph, feeds: Record<string, Tensor>, source: string): void {
  for (const input of graph.inputs) {
    const t = feeds[input.name];
    if (!t) throw new QuantLensError('data-shape', `the data has no values for model input '${input.name}'`, source);
    const shape = input.shape;
    if (shape) {
      const bad = t.dims.length !== shape.length || shape.some((d, i) => typeof d === 'number' && d > 0 && d !== t.dims[i]);
      if (bad) throw new QuantLensError('data-shape', `data of shape (${t.dims.join(', ')}) does not fit model input '${input.name}' of shape (${shape.join(', ')})`, source);
    }
    if (t.type === DataType.FLOAT || t.type === DataType.DOUBLE) {
      const v = t.data as Float32Array;
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) throw new QuantLensError('data-not-finite', `the data for input '${input.name}' holds ${Number.isNaN(v[i]) ? 'NaN' : 'an infinite value'} (flat index ${i})`, source);
      }
    }
  }
}

/** A typed array of `type` over a copy of `bytes` (aligned). */
function typedArray(type: DataType, bytes: Uint8Array): TensorArray {
  const buf = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buf).set(bytes);
  switch (type) {
    case DataType.FLOAT: return new Float32Array(buf);
    case DataType.DOUBLE: return new Float64Array(buf);
    case DataType.INT8: return new Int8Array(buf);
    case DataType.INT16: return new Int16Array(buf);
    case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16: return new Uint16Array(buf);
    case DataType.INT32: return new Int32Array(buf);
    case DataType.UINT32: return new Uint32Array(buf);
    case DataType.INT64: return new BigInt64Array(buf);
    case DataType.UINT64: return new BigUint64Array(buf);
    default: return new Uint8Array(buf);
  }
}

/**
 * The fetches of one batch split into runs: the graph outputs and then the extra tensors in graph order, a new run
 * whenever the next tensor would take the run's bytes over `maxBytes` (unknown sizes count as nothing).
 */
function fetchGroups(graph: Graph, outputs: readonly string[], extra: readonly string[], samples: number, maxBytes: number, bytesPerSample?: (t: string) => number | undefined): string[][] {
  if (!bytesPerSample) return [[...outputs, ...extra]];
  const order = (t: string) => graph.producer.get(t)?.index ?? -1;
  const sorted = [...extra].sort((a, b) => order(a) - order(b));
  const groups: string[][] = [[...outputs]];
  let bytes = outputs.reduce((s, t) => s + (bytesPerSample(t) ?? 0) * samples, 0);
  for (const t of sorted) {
    const n = (bytesPerSample(t) ?? 0) * samples;
    if (bytes + n > maxBytes && groups[groups.length - 1].length) { groups.push([]); bytes = 0; }
    groups[groups.length - 1].push(t);
    bytes += n;
  }
  return groups.filter((g) => g.length);
}
