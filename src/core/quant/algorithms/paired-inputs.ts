/**
 * Statistics for sequential repair (AdaRound's asymmetric reconstruction, Nagel et al. 2020, §4): a layer is
 * repaired against the float model's output of that layer, W x, while its weight sees x̂, what reaches it once
 * the layers before it are quantized (and repaired). Both models run on the same calibration batches; the same
 * rows (the same samples and, for a Conv, output positions) of x and x̂ are kept, and ONNX Runtime computes the
 * blocks of the Gram matrix of [x̂ | x̂ - x] over them (Σx̂x̂ᵀ, Σδx̂ᵀ and Σδδᵀ, δ = x̂ - x), without subtracting
 * large terms. No labels are used; the rows are chosen with a seeded generator.
 */
import { QuantLensError } from '../../errors';
import { Graph } from '../../onnx/graph';
import { QuantLayer } from '../../onnx/layer';
import { GraphBuilder } from '../../onnx/builder';
import { DataType, ModelProto } from '../../onnx/proto';
import { createModelSession } from '../../runtime/fed-weights';
import { Tensor, toFloat32 } from '../../onnx/tensor-data';
import { DataSource } from '../../data/source';
import { InferenceBackend } from '../../runtime/backend';
import { Rng } from '../../train/random';
import { QuantizedRun } from './round-runs';
import { convGeom, ConvGeom, convOutput, GatherOptions, im2colRow, LayerInputStats, rowCapOf, supportsInputStats } from './layer-inputs';
import { createProtoSession } from '../../runtime/proto-session';

/** Rows of one layer: x̂ and δ = x̂ - x per row (two [rows, K] buffers), plus exact column means of x and x̂. */
class PairedRows {
  /** x̂ rows, grown as rows come (up to `cap`). */
  q: Float32Array;
  /** δ rows, the same layout. */
  d: Float32Array;
  rows = 0;
  readonly meanF: Float64Array;
  readonly meanQ: Float64Array;
  meanCount = 0;
  readonly absMean: Float64Array;
  readonly absMax: Float64Array;
  constructor(readonly cols: number, readonly cap: number) {
    this.q = new Float32Array(Math.min(cap, 512) * cols);
    this.d = new Float32Array(Math.min(cap, 512) * cols);
    this.meanF = new Float64Array(cols);
    this.meanQ = new Float64Array(cols);
    this.absMean = new Float64Array(cols);
    this.absMax = new Float64Array(cols);
  }
  /** Adds a row pair (x from the float model, q = x̂ from the quantized one) to the Gram rows. */
  add(x: ArrayLike<number>, q: ArrayLike<number>): void {
    if (this.rows >= this.cap) return;
    const K = this.cols;
    if ((this.rows + 1) * K > this.q.length) {
      const n = Math.min(this.cap, 2 * this.rows) * K;
      const gq = new Float32Array(n), gd = new Float32Array(n);
      gq.set(this.q);
      gd.set(this.d);
      this.q = gq;
      this.d = gd;
    }
    const at = this.rows++ * K;
    for (let k = 0; k < K; k++) {
      this.q[at + k] = q[k];
      this.d[at + k] = q[k] - x[k];
      const a = Math.abs(x[k]);
      this.absMean[k] += a;
      if (a > this.absMax[k]) this.absMax[k] = a;
    }
  }
  /** Adds one position to the exact means. */
  mean(x: ArrayLike<number>, q: ArrayLike<number>): void {
    for (let k = 0; k < this.cols; k++) { this.meanF[k] += x[k]; this.meanQ[k] += q[k]; }
    this.meanCount++;
  }
}

/**
 * Runs the float model and the partly quantized model (same graph, other weights) over `data` and returns, per
 * layer, the statistics of its float input with `quantized` filled in (see QuantizedInputStats).
 */
export async function gatherPairedInputs(floatModel: ModelProto, quantModel: ModelProto, graph: Graph, layers: readonly QuantLayer[], data: DataSource, backend: InferenceBackend, o: GatherOptions & {
  /** Opens the quantized model's run giving these tensors (default: a session of its prefix that computes them; sequential rounds pass RoundRuns'). */
  quantized?: (tensors: string[]) => Promise<QuantizedRun>;
} = {}): Promise<Map<string, LayerInputStats>> {
  const rng = new Rng(o.seed ?? 1);
  const maxRows = o.maxRows ?? 8192;
  const targets = layers.filter((l) => supportsInputStats(graph, l));
  const out = new Map<string, LayerInputStats>();
  if (!targets.length) return out;
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const fetched = [...new Set(targets.map((l) => l.activationInputs[0]))].filter((t) => !inputNames.has(t));
  const acc = new Map<string, PairedRows>();
  const geoms = new Map<string, ConvGeom>();
  for (const l of targets) {
    const K = l.weight!.dims.reduce((a, b) => a * b, 1) / l.weight!.dims[l.weight!.channelAxis];
    acc.set(l.name, new PairedRows(K, rowCapOf(K, maxRows)));
    if (l.kind === 'conv') geoms.set(l.name, convGeom(graph, l)!);
  }
  // one session at a time (the float and the partly quantized prefix of a wide model held together were the
  // analysis's peak memory): the float prefix's values over all batches (or those the caller gathered once for every
  // round), then the quantized prefix batch by batch
  const shared = o.floatValues && fetched.every((t) => o.floatValues!.tensors.has(t)) ? o.floatValues.batches : undefined;
  const floatValues: Record<string, Tensor>[] = shared ? [...shared] : fetched.length ? (await gatherFloatValues(floatModel, fetched, data, backend, o))! : [];
  const qs = fetched.length ? await (o.quantized ?? ((t: string[]) => prefixRun(quantModel, t, backend, o.threads)))(fetched) : undefined;
  let done = 0;
  let b = 0;
  try {
    for await (const batch of data.batches(o.batchSize ?? 8)) {
      o.check?.();
      const rf = fetched.length ? floatValues[b] : {};
      if (!rf) throw new QuantLensError('repair-capture', 'the calibration data gave more batches on the second pass than on the first', o.file);
      floatValues[b] = {}; // released as it is used
      const rq = qs ? await qs.run(b, batch.feeds) : {};
      b++;
      for (const l of targets) {
        const name = l.activationInputs[0];
        const tf = inputNames.has(name) ? batch.feeds[name] : rf[name];
        const tq = inputNames.has(name) ? batch.feeds[name] : rq[name];
        if (!tf || !tq) throw new QuantLensError('repair-capture', `ONNX Runtime returned no value for '${name}'`, o.file);
        const a = acc.get(l.name)!;
        const per = Math.max(1, Math.ceil(a.cap / Math.max(1, data.samples)));
        const g = geoms.get(l.name);
        if (g) convPairs(toFloat32(tf), toFloat32(tq), tf.dims, g, a, per, rng);
        else densePairs(toFloat32(tf), toFloat32(tq), a, per * Math.max(1, tf.dims[0]), rng);
      }
      done += Object.values(batch.feeds)[0]?.dims[0] ?? 1;
      o.onProgress?.(done, data.samples);
    }
  } finally {
    await qs?.release();
  }
  const gramOf = await pairedGram(backend, o.threads);
  try {
    for (const l of targets) out.set(l.name, await finish(acc.get(l.name)!, gramOf));
  } finally { await gramOf.release(); }
  return out;
}

/** A session of the model's prefix that computes `tensors`, as a QuantizedRun. */
async function prefixRun(model: ModelProto, tensors: string[], backend: InferenceBackend, threads?: number): Promise<QuantizedRun> {
  // no memory arena: freed outputs and temporaries go back to the system (see gramProduct)
  const s = await createModelSession(backend, upTo(model, tensors), { optimization: 'basic', threads, arena: false });
  return { run: (_b, feeds) => s.run(feeds, tensors), release: () => s.release() };
}

/** Float-model values of some tensors over every calibration batch, gathered once for several rounds. */
export interface FloatValues { tensors: ReadonlySet<string>; batches: readonly Record<string, Tensor>[] }

/**
 * Runs the float model's prefix that computes `tensors` over `data`; with `maxBytes`, gives up (undefined) as soon
 * as the values would hold more than that.
 */
export async function gatherFloatValues(floatModel: ModelProto, tensors: readonly string[], data: DataSource, backend: InferenceBackend, o: GatherOptions & { maxBytes?: number } = {}): Promise<Record<string, Tensor>[] | undefined> {
  const out: Record<string, Tensor>[] = [];
  let bytes = 0;
  // no memory arena: freed outputs and temporaries go back to the system (see gramProduct)
  const fs = await createModelSession(backend, upTo(floatModel, tensors), { optimization: 'basic', threads: o.threads, arena: false });
  try {
    for await (const batch of data.batches(o.batchSize ?? 8)) {
      o.check?.();
      const values = await fs.run(batch.feeds, [...tensors]);
      for (const t of Object.values(values)) bytes += (t.data as { byteLength: number }).byteLength;
      if (o.maxBytes !== undefined && bytes > o.maxBytes) return undefined;
      out.push(values);
    }
  } finally { await fs.release(); }
  return out;
}

/** The part of the model that computes `tensors`, with them as its only outputs (a decoder's early layers skip its head). */
function upTo(model: ModelProto, tensors: readonly string[]): ModelProto {
  const g = model.graph!;
  const nodes = g.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => { for (const o of n.output ?? []) producer.set(o, i); });
  const keep = new Set<number>();
  const stack = [...tensors];
  while (stack.length) {
    const i = producer.get(stack.pop()!);
    if (i === undefined || keep.has(i)) continue;
    keep.add(i);
    stack.push(...(nodes[i].input ?? []).filter((t) => t));
    // subgraph attributes (If, Loop) may read outer tensors
    for (const a of nodes[i].attribute ?? []) for (const sg of [a.g, ...(a.graphs ?? [])]) for (const n of sg?.node ?? []) stack.push(...(n.input ?? []).filter((t) => t));
  }
  const used = new Set(nodes.filter((_, i) => keep.has(i)).flatMap((n) => n.input ?? []));
  for (const i of keep) for (const a of nodes[i].attribute ?? []) for (const sg of [a.g, ...(a.graphs ?? [])]) for (const n of sg?.node ?? []) for (const t of n.input ?? []) used.add(t);
  for (const t of tensors) used.add(t);
  // every graph input stays (the feeds name them all)
  return { ...model, graph: { ...g, node: nodes.filter((_, i) => keep.has(i)), initializer: (g.initializer ?? []).filter((t) => used.has(t.name ?? '')), output: tensors.map((name) => ({ name })) } };
}

function densePairs(x: Float32Array, q: Float32Array, a: PairedRows, take: number, rng: Rng): void {
  const K = a.cols;
  const n = x.length / K;
  for (let r = 0; r < n; r++) a.mean(x.subarray(r * K, (r + 1) * K), q.subarray(r * K, (r + 1) * K));
  const pick = Math.min(n, take, a.cap - a.rows);
  const perm = pick < n ? rng.permutation(n) : undefined;
  for (let i = 0; i < pick; i++) {
    const r = perm ? perm[i] : i;
    a.add(x.subarray(r * K, (r + 1) * K), q.subarray(r * K, (r + 1) * K));
  }
}

function convPairs(x: Float32Array, q: Float32Array, dims: readonly number[], g: ConvGeom, a: PairedRows, perSample: number, rng: Rng): void {
  const { oh, ow } = convOutput(dims, g);
  const positions = oh * ow;
  const tx = new Float64Array(a.cols), tq = new Float64Array(a.cols);
  for (let n = 0; n < dims[0]; n++) {
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      im2colRow(tx, x, dims, g, n, oy, ox);
      im2colRow(tq, q, dims, g, n, oy, ox);
      a.mean(tx, tq);
    }
    const pick = Math.min(positions, perSample, a.cap - a.rows);
    for (let i = 0; i < pick; i++) {
      const p = Math.floor(rng.next() * positions);
      im2colRow(tx, x, dims, g, n, Math.floor(p / ow), p % ow);
      im2colRow(tq, q, dims, g, n, Math.floor(p / ow), p % ow);
      a.add(tx, tq);
    }
  }
}

/** The blocks of the Gram matrix of rows [x̂ | δ] (float32 ONNX Runtime Gemms, one session for every layer and shape). */
export interface PairedGram { run(q: Float32Array, d: Float32Array, rows: number, cols: number): Promise<{ h: Float32Array; crossT: Float32Array; dd: Float32Array }>; release(): Promise<void> }

/**
 * Builds the paired Gram session: x̂ᵀx̂, δᵀx̂ and δᵀδ as three Gemms over the fed rows. These are three of the four
 * [K, K] blocks of one Gemm over [x̂ | δ] (the fourth, x̂ᵀδ, is the transpose of the second): a quarter fewer
 * multiply-adds, no [2K, 2K] output to copy out of ONNX Runtime and split in JS (on ResNet-50's K = 2304, 85 MB a
 * layer), and Σδx̂ᵀ comes out in the layout its readers multiply by. Each block's values are the single Gemm's
 * (every output element sums over the same rows in the same order; checked in quant-paired-gram.test.ts).
 */
export async function pairedGram(backend: InferenceBackend, threads?: number): Promise<PairedGram> {
  const b = new GraphBuilder('paired-gram');
  b.input('q', DataType.FLOAT, ['r', 'k']);
  b.input('d', DataType.FLOAT, ['r', 'k']);
  b.node('Gemm', ['q', 'q'], { transA: 1 }, { name: 'qq', output: 'h' });
  b.node('Gemm', ['d', 'q'], { transA: 1 }, { name: 'dq', output: 'crossT' });
  b.node('Gemm', ['d', 'd'], { transA: 1 }, { name: 'dd', output: 'dd' });
  for (const o of ['h', 'crossT', 'dd']) b.output(o, DataType.FLOAT, ['k', 'k']);
  // no memory arena: it kept each product's output after the copy to JS (see gramProduct)
  const s = await createProtoSession(backend, b.model(13), { optimization: 'all', threads, arena: false });
  return {
    run: async (q, d, rows, cols) => {
      const dims = [rows, cols];
      const r = await s.run({ q: { type: DataType.FLOAT, dims, data: q.subarray(0, rows * cols) }, d: { type: DataType.FLOAT, dims, data: d.subarray(0, rows * cols) } }, ['h', 'crossT', 'dd']);
      return { h: toFloat32(r.h), crossT: toFloat32(r.crossT), dd: toFloat32(r.dd) };
    },
    release: () => s.release(),
  };
}

/** The Gram blocks of the rows (ONNX Runtime Gemms, float32) as the statistics. */
async function finish(a: PairedRows, gramOf: PairedGram): Promise<LayerInputStats> {
  const K = a.cols, R = a.rows;
  // the blocks stay float32 (they are the Gram's values): 3 K² x 4 bytes less (ResNet-50's K = 2304: 64 MB at the export fit's peak)
  const { h, crossT, dd } = R > 0 ? await gramOf.run(a.q, a.d, R, K) : { h: new Float32Array(K * K), crossT: new Float32Array(K * K), dd: new Float32Array(K * K) };
  // the rows are not read again (up to 256 MB a layer while the round's other layers finish)
  a.q = new Float32Array(0);
  a.d = new Float32Array(0);
  // Σ x xᵀ with x = x̂ - δ: h - Σx̂δᵀ - Σδx̂ᵀ + dd (Σx̂δᵀ[i, j] = crossT[j, i])
  const hf = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) hf[i * K + j] = h[i * K + j] - crossT[j * K + i] - crossT[i * K + j] + dd[i * K + j];
  const n = Math.max(1, a.meanCount);
  const mean = a.meanF.map((v) => v / n), meanQ = a.meanQ.map((v) => v / n);
  return { cols: K, rows: R, h: hf, mean, absMean: a.absMean.map((v) => v / Math.max(1, R)), absMax: a.absMax, quantized: { h, crossT, dd, mean: meanQ } };
}
