/**
 * FP32 activations captured once per data batch by a separate session (the model with the needed tensors
 * added as outputs: that blocks fusion, so the main session never gets them), kept in memory up to a budget
 * and spilled to a temporary folder beyond it; released on dispose.
 */
import { groupBySize } from '../runtime/fetch-groups';
import { createModelSession } from '../runtime/fed-weights';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { QuantLensError } from '../errors';
import { Graph } from '../onnx/graph';
import { DataType, ModelProto } from '../onnx/proto';
import { Tensor, TensorArray } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { DataSource } from '../data/source';
import { RuntimeSession } from '../runtime/backend';
import { BatchPart, batchAxisFree, batchFirst, fitsJoin, joinBy, joinSlices, sliceFeeds, SliceJoin, sliceJoin, sliceSamples } from './batch-slices';

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
  /** Gets each observed tensor batch by batch, or slice by slice (with where the slice sits in the batch) when `sliceBytes` slices it. */
  observe?: (name: string, value: Tensor, part?: BatchPart) => void;
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
  /**
   * Fetched bytes of a batch (from `bytesPerSample`) over which it runs in slices of fewer samples, each with all the
   * fetches (ONNX Runtime's cost follows the samples: about free, unlike `fetchBytesPerRun`). Only when no intermediate
   * tensor is kept (graph outputs are joined back), the model's first input axis is free and the graph outputs come
   * back batch-first; else the batch runs whole.
   */
  sliceBytes?: number;
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
    // no memory arena: it kept the largest run's fetched outputs (copied to JS) and temporaries until the session's release
    const session = await createModelSession(o.backend, model, { optimization: 'all', threads: o.threads, executionProviders: o.executionProviders, arena: false });
    const fetches = [...outputs, ...extra];
    const groups = fetchGroups(graph, outputs, extra, o.batchSize ?? 8, o.fetchBytesPerRun ?? this.budget, o.bytesPerSample);
    const fetchedPerSample = o.bytesPerSample ? fetches.reduce((sum, t) => sum + (o.bytesPerSample!(t) ?? 0), 0) : 0;
    // kept intermediates are joined back only when nothing is observed (a batch that does not take slices runs again whole)
    const keepsIntermediates = extra.some((t) => kept.has(t));
    let slicing = o.sliceBytes !== undefined && fetchedPerSample > 0 && batchAxisFree(graph) && !(keepsIntermediates && observedSet.size);
    const run: CaptureRun = { session, outputs, kept, observedSet, observe: o.observe };
    try {
      let b = 0;
      for await (const batch of o.data.batches(o.batchSize ?? 8)) {
        throwIfAborted(o.signal);
        if (first) checkFeeds(graph, batch.feeds, o.data.description.source);
        const t0 = performance.now();
        const n = firstDim(batch.feeds);
        const per = slicing ? sliceSamples(batch.feeds, n, fetchedPerSample, o.sliceBytes!) : undefined;
        // the first sample alone: each kept tensor's first dim per sample, and its values to check the first slice by
        if (per && keepsIntermediates && !run.sample0) run.sample0 = await session.run(sliceFeeds(batch.feeds, 0, 1), fetches.filter((k) => kept.has(k) || outputs.includes(k)));
        let result = per ? await runSliced(run, batch.feeds, n, per, fetchGroups(graph, outputs, extra, per, o.fetchBytesPerRun ?? this.budget, o.bytesPerSample), b === 0) : undefined;
        if (per && !result) slicing = false; // the model does not take slices: every batch runs whole
        result ??= (await runGroups(run, batch.feeds, groups))!;
        this.captureRunMs += performance.now() - t0;
        let map = this.entries[b];
        if (first) {
          map = new Map<string, Entry>();
          this.entries.push(map);
          for (const [k, v] of Object.entries(batch.feeds)) this.put(map, b, k, v);
          this.labelList.push(batch.labels);
          this.sampleCounts.push(n);
        } else if (!map) throw new Error('the data yielded more batches than when the cache was captured');
        for (const k of fetches) if (result[k] && (first && outputs.includes(k) || kept.has(k))) this.put(map, b, k, result[k]);
        if (o.observe) for (const k of observedSet) if (!fetches.includes(k) && batch.feeds[k]) o.observe(k, batch.feeds[k]);
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

  /** Lets go of every cached tensor but `names` (memory and spilled files): when the later steps read only those. */
  retain(names: Iterable<string>): void {
    const keep = new Set(names);
    for (const map of this.entries) {
      for (const [k, e] of map) {
        if (keep.has(k)) continue;
        if ('tensor' in e) this.bytesInMemory -= e.tensor.data.byteLength;
        else { this.bytesOnDisk -= fs.statSync(e.file).size; fs.rmSync(e.file, { force: true }); }
        map.delete(k);
      }
    }
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

/** What one capture run needs: the session, which fetches are kept (outputs and `kept`), which are observed and by whom. */
interface CaptureRun {
  session: RuntimeSession;
  outputs: readonly string[];
  kept: ReadonlySet<string>;
  observedSet: ReadonlySet<string>;
  observe?: (name: string, value: Tensor, part?: BatchPart) => void;
  /** With kept intermediates: the first sample's kept tensors alone (a slice's first dim per sample, and its first values). */
  sample0?: Record<string, Tensor>;
  /** With kept intermediates: how each slice's tensor gives the whole batch's, found on the first batch. */
  joins?: Map<string, SliceJoin>;
}

/**
 * Runs `feeds` once per fetch group: observed tensors are handed over (with `part` placed by `slice`) as each run
 * returns and then dropped; kept ones and outputs are returned. `check` sees the first run's result before anything
 * is observed; false stops with undefined.
 */
async function runGroups(c: CaptureRun, feeds: Record<string, Tensor>, groups: string[][], slice?: { start: number; samples: number; batch: number }, check?: (r: Record<string, Tensor>) => boolean): Promise<Record<string, Tensor> | undefined> {
  const result: Record<string, Tensor> = {};
  for (const [g, group] of groups.entries()) {
    const r = await c.session.run(feeds, group);
    if (g === 0 && check && !check(r)) return undefined;
    for (const k of group) {
      const t = r[k];
      if (!t) continue;
      if (c.observe && c.observedSet.has(k)) {
        const perSample = t.data.length / (slice?.samples ?? 1);
        c.observe(k, t, slice ? { offset: slice.start * perSample, total: slice.batch * perSample } : undefined);
      }
      if (c.outputs.includes(k) || c.kept.has(k)) result[k] = t;
    }
  }
  return result;
}

/**
 * Runs a batch of `samples` in slices of `per`, observed tensors handed over slice by slice, kept tensors and graph
 * outputs joined back. Undefined when the model does not take slices: on the first slice, a kept tensor or output
 * that does not follow the slice (first dim the slice's samples times the first sample's, the first sample's values
 * first) or (on the first batch, `probe`) a run that fails at the slice's size (a batch fixed inside the graph).
 */
async function runSliced(c: CaptureRun, feeds: Record<string, Tensor>, samples: number, per: number, groups: string[][], probe: boolean): Promise<Record<string, Tensor> | undefined> {
  const parts = new Map<string, Tensor[]>();
  const joins = new Map<string, SliceJoin>();
  for (let start = 0; start < samples; start += per) {
    const end = Math.min(samples, start + per);
    // without kept intermediates (nothing to compare with): graph outputs batch-first; with them, each one's join
    // rule from the first slice (of the first batch: its values too), then the same rule on every slice
    const s0 = c.sample0;
    const follows = (r: Record<string, Tensor>) => {
      if (!s0) return c.outputs.every((k) => !r[k] || batchFirst(r[k], end - start));
      for (const k of Object.keys(s0)) {
        if (!r[k]) continue;
        const known = joins.get(k) ?? c.joins?.get(k);
        const j = known ?? (start === 0 ? sliceJoin(r[k], s0[k], end - start) : undefined);
        if (!j || (known && !fitsJoin(known, r[k], s0[k], end - start))) return false;
        joins.set(k, j);
      }
      return true;
    };
    let r: Record<string, Tensor> | undefined;
    try {
      r = await runGroups(c, sliceFeeds(feeds, start, end), groups, { start, samples: end - start, batch: samples }, start === 0 && !s0 ? follows : undefined);
    } catch (e) {
      if (probe && start === 0) return undefined;
      throw e;
    }
    if (!r) return undefined;
    if (!follows(r)) {
      if (start === 0 && !c.observedSet.size) return undefined;
      throw new Error('a fetched tensor stopped following the batch slices');
    }
    for (const [k, t] of Object.entries(r)) { let l = parts.get(k); if (!l) parts.set(k, (l = [])); l.push(t); }
  }
  if (probe) c.joins = joins;
  const out: Record<string, Tensor> = {};
  for (const [k, l] of parts) { out[k] = c.sample0 ? joinBy(joins.get(k)!, l, c.sample0[k], samples) : joinSlices(l); parts.delete(k); }
  return out;
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
  return groupBySize(sorted, (t) => (bytesPerSample(t) ?? 0) * samples, maxBytes, outputs);
}
