/**
 * Statistics of what each layer's weight multiplies, gathered from calibration data in one run of the float
 * model: the rows x (K values each, in the weight matrix's column order: for a Conv the im2col patch of
 * input channels × kernel positions) give H = Σ x xᵀ (the layer-wise loss's Hessian up to a factor, used by
 * AdaRound and GPTQ), the column means (bias correction) and mean |x| and max |x| (AWQ, SmoothQuant).
 * Rows are subsampled with a seeded generator so that the cost stays bounded; no labels are used.
 */
import { QuantLensError } from '../../errors';
import { attrInts, attrInt, Graph } from '../../onnx/graph';
import { QuantLayer } from '../../onnx/layer';
import { GraphBuilder } from '../../onnx/builder';
import { DataType, ModelProto } from '../../onnx/proto';
import { toFloat32 } from '../../onnx/tensor-data';
import { captureModel } from '../../data/collect-ranges';
import { DataSource } from '../../data/source';
import { InferenceBackend } from '../../runtime/backend';
import { createModelSession } from '../../runtime/fed-weights';
import { Rng } from '../../train/random';
import { createProtoSession } from '../../runtime/proto-session';

/** What a layer's weight sees, summarised over the calibration rows. */
export interface LayerInputStats {
  /** Columns of the weight matrix (K). */
  cols: number;
  /** Rows accumulated. */
  rows: number;
  /** Σ x xᵀ over the rows, [K, K] row-major (symmetric). */
  h: Float64Array;
  /** Mean of each column over all positions (not subsampled: exact expectation for bias correction). */
  mean: Float64Array;
  /** Mean |x| of each column over the sampled rows. */
  absMean: Float64Array;
  /** Max |x| of each column over the sampled rows. */
  absMax: Float64Array;
  /** Sequential repair: what the weight multiplies once the layers before it are quantized (see paired-inputs.ts). */
  quantized?: QuantizedInputStats;
}

/**
 * The same rows with the layers before this one quantized: x̂ next to the float x (δ = x̂ - x), so that the
 * loss ||W̃ x̂ - W x||² = Δ Σx̂x̂ᵀ Δᵀ + 2 Δ Σx̂δᵀ Wᵀ + W Σδδᵀ Wᵀ (Δ = W̃ - W) needs no difference of large terms.
 * The three sums are blocks of the float32 Gram product of [x̂ | δ] (paired-inputs.ts): held as float32, the same values.
 */
export interface QuantizedInputStats {
  /** Σ x̂ x̂ᵀ, [K, K]. */
  h: Float64Array | Float32Array;
  /** Σ δ x̂ᵀ, [K, K] (crossT[i K + j] = Σ δ_i x̂_j; Σ x̂ δᵀ is its transpose). */
  crossT: Float64Array | Float32Array;
  /** Σ δ δᵀ, [K, K]. */
  dd: Float64Array | Float32Array;
  /** Mean of each column of x̂ over all positions. */
  mean: Float64Array;
}

/** Options of gatherLayerInputs. */
export interface GatherOptions {
  /** At most this many rows per layer enter H (default 8192). */
  maxRows?: number;
  seed?: number;
  batchSize?: number;
  /** Called between batches; throws to cancel. */
  check?: () => void;
  onProgress?: (done: number, total: number) => void;
  file?: string;
  /** Intra-op threads of the sessions that run the model (default: the machine's cores; results do not depend on it). */
  threads?: number;
  /** Float-model values already gathered (sequential repair's rounds share one float run); used when they hold every tensor needed. */
  floatValues?: import('./paired-inputs').FloatValues;
}

/** Conv geometry (2-D, group 1) read from the node. */
export interface ConvGeom { kh: number; kw: number; sh: number; sw: number; dh: number; dw: number; pt: number; pl: number; pb: number; pr: number }

/** The geometry of a 2-D, group-1 Conv layer (undefined for other convolutions). */
export function convGeom(graph: Graph, layer: QuantLayer): ConvGeom | undefined {
  const node = graph.byName.get(layer.name)!.proto;
  const d = layer.weight!.dims;
  if (d.length !== 4 || attrInt(node, 'group', 1) !== 1) return undefined;
  const autoPad = (node.attribute ?? []).find((a) => a.name === 'auto_pad');
  const ap = autoPad?.s ? new TextDecoder().decode(autoPad.s) : 'NOTSET';
  if (ap !== 'NOTSET' && ap !== 'VALID') return undefined;
  const [sh, sw] = attrInts(node, 'strides', [1, 1]);
  const [dh, dw] = attrInts(node, 'dilations', [1, 1]);
  const [pt, pl, pb, pr] = ap === 'VALID' ? [0, 0, 0, 0] : attrInts(node, 'pads', [0, 0, 0, 0]);
  return { kh: d[2], kw: d[3], sh, sw, dh, dw, pt, pl, pb, pr };
}

/** True when gatherLayerInputs can describe this layer (Conv 2-D group 1, Gemm without transA, MatMul with a 2-D weight). */
export function supportsInputStats(graph: Graph, layer: QuantLayer): boolean {
  const node = graph.byName.get(layer.name)?.proto;
  if (!node || !layer.weight || layer.activationInputs.length !== 1) return false;
  if (layer.kind === 'conv') return !!convGeom(graph, layer);
  if (layer.kind === 'gemm') return attrInt(node, 'transA', 0) === 0 && layer.weight.dims.length === 2 && node.input?.[1] === layer.weight.tensor;
  if (layer.kind === 'matmul') return layer.weight.dims.length === 2 && node.input?.[1] === layer.weight.tensor;
  return false;
}

/**
 * Rows per layer entering H: at most `maxRows`, and at most 32M values (128 MB of float32 rows; the Gram matrix is
 * an ONNX Runtime product). The former cap by JS cost (4e9 / K²: 754 rows at K = 2304) left wide layers with fewer
 * rows than inputs, so GPTQ fitted the calibration samples instead of the layer.
 */
export function rowCapOf(K: number, maxRows: number): number {
  return Math.max(256, Math.min(maxRows, Math.floor(2 ** 25 / K)));
}

/** Reductions at least this wide get their Gram matrix from ONNX Runtime; narrower ones are summed in JS (float64). */
const ORT_GRAM_MIN_K = 256;

/** zᵀz of fed rows z [R, K] (float32 ONNX Runtime Gemm), one session for every layer and shape. */
export interface GramProduct { run(z: Float32Array, rows: number, cols: number): Promise<Float32Array>; release(): Promise<void> }

/** Builds the Gram session. */
export async function gramProduct(backend: InferenceBackend, threads?: number): Promise<GramProduct> {
  const b = new GraphBuilder('gram');
  b.input('z', DataType.FLOAT, ['r', 'k']);
  b.node('Gemm', ['z', 'z'], { transA: 1 }, { name: 'gram', output: 'g' });
  b.output('g', DataType.FLOAT, ['k', 'k']);
  // no memory arena: it kept each product's output after the copy to JS (a 4608-wide Gram: +117 MB RSS until release)
  const s = await createProtoSession(backend, b.model(13), { optimization: 'all', threads, arena: false });
  return {
    run: async (z, rows, cols) => toFloat32((await s.run({ z: { type: DataType.FLOAT, dims: [rows, cols], data: z.subarray(0, rows * cols) } }, ['g'])).g),
    release: () => s.release(),
  };
}

class Accumulator {
  readonly h: Float64Array;
  readonly mean: Float64Array;
  readonly absMean: Float64Array;
  readonly absMax: Float64Array;
  rows = 0;
  meanCount = 0;
  /** Buffered rows, float32: the values are float32 activations, so the same numbers (and no float64 -> float32 copy before each Gram run). */
  private buf: Float32Array;
  private fill = 0;
  /** Wide layers: rows are buffered (growing) until `flushAsync` hands them to ONNX Runtime; narrow ones flush into H in JS every `chunk` rows. */
  constructor(readonly cols: number, private readonly chunk = 64, private readonly ort = cols >= ORT_GRAM_MIN_K) {
    this.h = new Float64Array(cols * cols);
    this.mean = new Float64Array(cols);
    this.absMean = new Float64Array(cols);
    this.absMax = new Float64Array(cols);
    this.buf = new Float32Array(chunk * cols);
  }
  /** Rows taken so far as the row caps count them (narrow layers: those flushed, as before buffering existed). */
  get counted(): number { return this.ort ? this.rows + this.fill : this.rows; }
  /** A row slot to write into. */
  row(): Float32Array {
    if (this.fill * this.cols === this.buf.length) {
      if (this.ort) { const b = new Float32Array(this.buf.length * 2); b.set(this.buf); this.buf = b; } else this.flush();
    }
    return this.buf.subarray(this.fill * this.cols, ++this.fill * this.cols);
  }
  private absStats(): void {
    const K = this.cols;
    for (let r = 0; r < this.fill; r++) for (let i = 0; i < K; i++) {
      const a = Math.abs(this.buf[r * K + i]);
      this.absMean[i] += a;
      if (a > this.absMax[i]) this.absMax[i] = a;
    }
  }
  flush(): void {
    if (this.ort) throw new Error('a wide accumulator flushes through flushAsync');
    this.absStats();
    const K = this.cols;
    for (let r = 0; r < this.fill; r++) {
      const x = this.buf.subarray(r * K, (r + 1) * K);
      for (let i = 0; i < K; i++) {
        const xi = x[i];
        if (xi === 0) continue;
        const base = i * K;
        for (let j = i; j < K; j++) this.h[base + j] += xi * x[j];
      }
    }
    this.rows += this.fill;
    this.fill = 0;
  }
  /** Adds the buffered rows to H (ONNX Runtime Gram for wide layers, summed into H in float64). */
  async flushAsync(gram: GramProduct): Promise<void> {
    if (!this.ort) { this.flush(); return; }
    if (!this.fill) return;
    this.absStats();
    const K = this.cols;
    const g = await gram.run(this.buf, this.fill, K);
    // upper triangle, as the JS path (finish mirrors it)
    for (let i = 0; i < K; i++) for (let j = i; j < K; j++) this.h[i * K + j] += g[i * K + j];
    this.rows += this.fill;
    this.fill = 0;
    if (this.buf.length > this.chunk * K) this.buf = new Float32Array(this.chunk * K);
  }
  finish(): LayerInputStats {
    if (!this.ort) this.flush();
    else if (this.fill) throw new Error('rows left unflushed');
    const K = this.cols;
    for (let i = 0; i < K; i++) for (let j = 0; j < i; j++) this.h[i * K + j] = this.h[j * K + i];
    for (let i = 0; i < K; i++) { this.absMean[i] /= Math.max(1, this.rows); this.mean[i] /= Math.max(1, this.meanCount); }
    return { cols: K, rows: this.rows, h: this.h, mean: this.mean, absMean: this.absMean, absMax: this.absMax };
  }
}

/**
 * Runs the float model over `data` once and returns, per layer (that supportsInputStats), its input statistics.
 */
export async function gatherLayerInputs(model: ModelProto, graph: Graph, layers: readonly QuantLayer[], data: DataSource, backend: InferenceBackend, o: GatherOptions = {}): Promise<Map<string, LayerInputStats>> {
  const rng = new Rng(o.seed ?? 1);
  const maxRows = o.maxRows ?? 8192;
  const targets = layers.filter((l) => supportsInputStats(graph, l));
  const out = new Map<string, LayerInputStats>();
  if (!targets.length) return out;
  const tensors = [...new Set(targets.map((l) => l.activationInputs[0]))];
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const fetched = tensors.filter((t) => !inputNames.has(t));
  const acc = new Map<string, Accumulator>();
  const geoms = new Map<string, ConvGeom>();
  const rowCap = new Map<string, number>();
  for (const l of targets) {
    const K = l.weight!.dims.reduce((a, b) => a * b, 1) / l.weight!.dims[l.weight!.channelAxis];
    acc.set(l.name, new Accumulator(K));
    rowCap.set(l.name, rowCapOf(K, maxRows));
    if (l.kind === 'conv') geoms.set(l.name, convGeom(graph, l)!);
  }
  // no memory arena: freed outputs and temporaries go back to the system (see gramProduct)
  // big MatMul/Gemm weights fed from the model's buffers, not encoded (ViT-B/16: 344 MB copied twice for each fit); on
  // the run's threads (it was one: ViT-B/16's float run took twice as long; the values do not depend on it)
  const session = await createModelSession(backend, captureModel(model, fetched), { optimization: 'basic', threads: o.threads, arena: false });
  const gram = await gramProduct(backend, o.threads);
  let done = 0;
  try {
    for await (const batch of data.batches(o.batchSize ?? 8)) {
      o.check?.();
      const res = fetched.length ? await session.run(batch.feeds, fetched) : {};
      for (const l of targets) {
        const t = inputNames.has(l.activationInputs[0]) ? batch.feeds[l.activationInputs[0]] : res[l.activationInputs[0]];
        if (!t) throw new QuantLensError('repair-capture', `ONNX Runtime returned no value for '${l.activationInputs[0]}'`, o.file);
        const a = acc.get(l.name)!;
        const x = toFloat32(t);
        const g = geoms.get(l.name);
        const cap = rowCap.get(l.name)!;
        const per = Math.max(1, Math.ceil(cap / Math.max(1, data.samples)));
        if (g) convRows(x, t.dims, g, a, per, rng, cap);
        else denseRows(x, a.cols, a, per * Math.max(1, t.dims[0]), rng, cap);
        await a.flushAsync(gram);
      }
      done += Object.values(batch.feeds)[0]?.dims[0] ?? 1;
      o.onProgress?.(done, data.samples);
    }
  } finally {
    await session.release();
    await gram.release();
  }
  for (const l of targets) out.set(l.name, acc.get(l.name)!.finish());
  return out;
}

/** Rows of a dense input [..., K]: every row's mean, a random subset into H. */
function denseRows(x: Float32Array, K: number, a: Accumulator, take: number, rng: Rng, maxRows: number): void {
  const n = x.length / K;
  for (let r = 0; r < n; r++) for (let k = 0; k < K; k++) a.mean[k] += x[r * K + k];
  a.meanCount += n;
  const pick = Math.min(n, take, Math.max(0, maxRows - a.counted - 64));
  const perm = pick < n ? rng.permutation(n) : undefined;
  for (let i = 0; i < pick; i++) {
    const r = perm ? perm[i] : i;
    const row = a.row();
    for (let k = 0; k < K; k++) row[k] = x[r * K + k];
  }
}

/** Output positions (oh, ow) of a 2-D convolution over an input [N, C, H, W]. */
export function convOutput(dims: readonly number[], g: ConvGeom): { oh: number; ow: number } {
  const [, , H, W] = dims;
  return { oh: Math.floor((H + g.pt + g.pb - g.dh * (g.kh - 1) - 1) / g.sh) + 1, ow: Math.floor((W + g.pl + g.pr - g.dw * (g.kw - 1) - 1) / g.sw) + 1 };
}

/** The im2col row (input channels × kernel positions, zero padding) of sample `n` at output position (oy, ox). */
export function im2colRow(row: Float64Array | Float32Array, x: Float32Array, dims: readonly number[], g: ConvGeom, n: number, oy: number, ox: number): void {
  const [, C, H, W] = dims;
  const base = n * C * H * W;
  let k = 0;
  for (let c = 0; c < C; c++) {
    for (let ky = 0; ky < g.kh; ky++) {
      const iy = oy * g.sh - g.pt + ky * g.dh;
      for (let kx = 0; kx < g.kw; kx++, k++) {
        const ix = ox * g.sw - g.pl + kx * g.dw;
        row[k] = iy >= 0 && iy < H && ix >= 0 && ix < W ? x[base + (c * H + iy) * W + ix] : 0;
      }
    }
  }
}

/** im2col rows of a 2-D convolution input [N, C, H, W]: means over every output position, a random subset into H. */
function convRows(x: Float32Array, dims: readonly number[], g: ConvGeom, a: Accumulator, perSample: number, rng: Rng, maxRows: number): void {
  const N = dims[0];
  const { oh, ow } = convOutput(dims, g);
  const positions = oh * ow;
  // exact column means: each input pixel counted once per output position whose window covers it
  const tmp = new Float64Array(a.cols);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      im2colRow(tmp, x, dims, g, n, oy, ox);
      for (let k = 0; k < a.cols; k++) a.mean[k] += tmp[k];
    }
    a.meanCount += positions;
    const pick = Math.min(positions, perSample, Math.max(0, maxRows - a.counted - 64));
    for (let i = 0; i < pick; i++) {
      const p = Math.floor(rng.next() * positions);
      im2colRow(a.row(), x, dims, g, n, Math.floor(p / ow), p % ow);
    }
  }
}
