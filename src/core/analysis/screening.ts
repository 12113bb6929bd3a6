/**
 * First-order screening: a predicted isolated output SQNR for every layer x format from forward + backward
 * passes of the float model through the project's own autodiff (no exact per-layer runs).
 *
 * The output error of quantizing one layer is, to first order, δy = J δ (J: Jacobian of the model outputs with
 * respect to the layer's weight or input activation, δ: the quantization noise). The gradient of a random
 * projection of the outputs, g = Jᵀr with r a Rademacher vector (E[rrᵀ] = I), gives two unbiased-in-parts
 * estimators of E = ||J δ||², per sample (batch 1 by default, so weight gradients are per sample):
 *  - `fisher`: Σᵢ gᵢ² δᵢ², the diagonal of JᵀJ weighted by the noise (noise elements taken as uncorrelated);
 *  - `taylor`: (g·δ)², exact in expectation but a one-degree-of-freedom chi-square per sample (noisier).
 * Each activation format's noise δ = FQ(x) − x is computed inside the graph (the same arithmetic as QDQ);
 * the squared weight gradients are summed by the graph (the running sum is fed in and this run's are added to it in
 * place, so no gradient is fetched), and δW is formed in JavaScript.
 * (The gradient of a KL/MSE loss against the float model's own outputs is zero at the float point, so a loss
 * gradient carries no information here; output-space projections do.) Estimates are SQNR in dB against the
 * float outputs' energy on the same samples, the unit of `isolated.sqnrDb`.
 */
import { QuantLensError } from '../errors';
import { GraphBuilder } from '../onnx/builder';
import { attrInt, Graph } from '../onnx/graph';
import { QuantLayer } from '../onnx/layer';
import { upgradeOpset } from '../onnx/opset-upgrade';
import { DataType, ModelProto } from '../onnx/proto';
import { Tensor, toFloat32 } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { DataSource } from '../data/source';
import { NumberFormat } from '../../shared/formats';
import { quantizeWeight } from '../quant/quantize';
import { emitBackward, FwdNode, GradRule, prepareForward, requiresGrad } from '../train/autodiff';
import { GradContext } from '../train/grad-context';
import { GRAD_RULES } from '../train/grad-rules/index';
import { probeModel } from '../train/shape-probe';
import { Rng } from '../train/random';
import { ActivationSetting, ROUND_MAGIC } from './config-model';
import { throwIfAborted } from './activation-cache';
import { sqnrFromEnergies } from './metrics';
import { weightErrors, WeightErrors } from './sensitivity';
import { WeightNoise } from './weight-noise';
import { FactorLayer, factorable, FactorStore, weightMatMulRule } from './screening-factors';
import { addGatherRun, GatherLayer, sparseGather } from './screening-gather';
import { createProtoSession } from '../runtime/proto-session';

/** Which first-order estimator turns gradients and noise into an output error energy. */
export type Estimator = 'fisher' | 'taylor';

/** Options of screenLayers. */
export interface ScreeningOptions {
  graph: Graph;
  layers: readonly QuantLayer[];
  backend: InferenceBackend;
  data: DataSource;
  /** The float outputs compared (the SQNR's signal). */
  floatOutputs: readonly string[];
  floatWeights: ReadonlyMap<string, Float32Array>;
  /** Weight formats to estimate (float is skipped). */
  weightFormats: readonly NumberFormat[];
  /** Activation formats to estimate (float is skipped). */
  activationFormats: readonly NumberFormat[];
  /** The activation setting (calibrated parameters) of an input tensor in a format. */
  activationSetting: (tensor: string, format: NumberFormat) => ActivationSetting;
  /** Samples per forward + backward run (default 1: weight gradients per sample). */
  batchSize?: number;
  /** Screen the data's first samples only, at least this many (whole batches); default all. */
  maxSamples?: number;
  /** Random output projections per run (default 1). */
  projections?: number;
  threads?: number;
  executionProviders?: string[];
  seed?: number;
  /** MatMul weights with at least this many values are screened through their factors (default FACTOR_MIN_VALUES). */
  factorMinValues?: number;
  /** Most stored factor values per layer before it is measured exactly instead (default FACTOR_STORE_VALUES). */
  factorStoreValues?: number;
  /** Embedding tables (Gather on axis 0) screened from the rows they pick (default true; false: the dense gradient). */
  sparseGathers?: boolean;
  signal?: AbortSignal;
  onBatch?: (samplesDone: number) => void;
}

/** Output error energies (summed over the screened samples) per estimator. */
export interface NoiseEnergy {
  fisher: number;
  taylor?: number;
}

/** What the screening found. */
export interface ScreeningResult {
  /** Energy of the float outputs over the screened samples. */
  signal: number;
  samples: number;
  /** Per layer, per weight format key (formatKey): predicted output error energy of quantizing its weight. */
  weightNoise: Map<string, Map<string, NoiseEnergy>>;
  /** Per layer, per activation format key: predicted output error energy of quantizing its activation inputs. */
  activationNoise: Map<string, Map<string, NoiseEnergy>>;
  /**
   * Per layer, per weight format key: the weight's SQNR over the tensor and per output channel (sensitivity.ts
   * weightErrors), from the same quantization as the estimate (so the layer statistics need not quantize again). Not
   * saved with a resumable state; layers missing here (not screened) are left to the caller.
   */
  weightErrors?: Map<string, Map<string, WeightErrors>>;
  /** Layers the autodiff could not screen (they are measured instead), with the reason. */
  unsupported: Map<string, string>;
  /** Wall time: building the graph and session, and the runs (ms). */
  buildMs: number;
  runMs: number;
}

/** A stable key of a number format (for maps). */
export function formatKey(f: NumberFormat): string {
  return JSON.stringify(f);
}

/** Layers whose weight the screening graph reads as an input (fed, not baked). */
const FED_WEIGHT_OPS = new Set(['MatMul', 'Gemm', 'Gather']);

/** Above this many weight values x weight formats, the Taylor weight term (it holds every δW) is skipped. */
const TAYLOR_WEIGHT_LIMIT = 16 * 1024 * 1024;

/** Runs the screening over the data and returns the predicted noise energies of every layer and format. */
export async function screenLayers(o: ScreeningOptions): Promise<ScreeningResult> {
  const t0 = performance.now();
  const batch = o.batchSize ?? 1;
  const projections = Math.max(1, o.projections ?? 1);
  const first = await firstBatch(o.data, batch);
  // Taylor weight term: δW of every format fed to every run (small models only).
  const wFormats = o.weightFormats.filter((f) => f.kind !== 'float');
  const weightValues = o.layers.reduce((s, l) => s + (o.floatWeights.get(l.name)?.length ?? 0), 0);
  const taylorWeights = weightValues * wFormats.length <= TAYLOR_WEIGHT_LIMIT;
  const built = await buildScreeningModel(o, first, taylorWeights ? wFormats.length : 0);
  // no CPU memory arena: it held the backward's peak between runs (ViT-B/16: -250 MB, same run time)
  const session = await createProtoSession(o.backend, built.model, { optimization: 'all', threads: o.threads, executionProviders: o.executionProviders, arena: false });
  const buildMs = performance.now() - t0;
  const rng = new Rng(o.seed ?? 7);
  // The Fisher diagonal Σ g² of each weight is accumulated by the graph (fed in, returned with this run's g² added).
  const fisherW = new Map<string, Float32Array>();
  for (const w of built.weights) fisherW.set(w.layer, new Float32Array(o.floatWeights.get(w.layer)!.length));
  const factors = new FactorStore(o.factorStoreValues);
  const weightFeeds: Record<string, Tensor> = {};
  for (const { input, layer } of built.weightInputs) weightFeeds[input] = { type: DataType.FLOAT, dims: o.layers.find((l) => l.name === layer)!.weight!.dims.slice(), data: o.floatWeights.get(layer)! };
  const errors = new Map<string, Map<string, WeightErrors>>();
  // one quantization per layer and format: the noise energy and the weight SQNR
  const quantized = (layer: string, f: NumberFormat): Float32Array => {
    const l = o.layers.find((x) => x.name === layer)!, w = o.floatWeights.get(layer)!, q = fakeWeight(o, layer, f);
    let m = errors.get(layer);
    if (!m) errors.set(layer, (m = new Map()));
    m.set(formatKey(f), weightErrors(w, q, l.weight!.dims, l.weight!.channelAxis));
    return q;
  };
  // after the runs: Σ G·(q − w)² with the weight SQNRs in one pass per format, quantizing as it goes, the channel
  // ranges shared between formats (weight-noise.ts; ViT-B/16: 4 formats x 86M values)
  let noiseOf: { layer: string; noise: WeightNoise } | undefined;
  const shared: { scratch?: Float32Array } = {};
  const weighted = (layer: string, f: NumberFormat, G: Float32Array): number => {
    const l = o.layers.find((x) => x.name === layer)!, w = o.floatWeights.get(layer)!;
    if (f.kind !== 'int') return weightedNoise(G, w, quantized(layer, f));
    if (noiseOf?.layer !== layer) noiseOf = { layer, noise: new WeightNoise(w, l.weight!.dims, l.weight!.channelAxis, l.weight!.reductionAxis, shared) };
    const e = noiseOf.noise.errors(f, G);
    let m = errors.get(layer);
    if (!m) errors.set(layer, (m = new Map()));
    m.set(formatKey(f), { total: e.total, channels: e.channels });
    return e.weighted;
  };
  const deltas = new Map<string, Float32Array[]>();
  const taylorW = new Map<string, number[]>();
  for (const g of built.gathers) fisherW.set(g.layer, new Float32Array(o.floatWeights.get(g.layer)!.length));
  for (const g of built.gathers) if (taylorWeights) {
    const d = wFormats.map((f) => difference(quantized(g.layer, f), o.floatWeights.get(g.layer)!));
    deltas.set(g.layer, d);
    taylorW.set(g.layer, d.map(() => 0));
  }
  for (const w of built.weights) {
    if (!w.deltas.length) continue;
    const d = wFormats.map((f) => difference(quantized(w.layer, f), o.floatWeights.get(w.layer)!));
    deltas.set(w.layer, d);
    taylorW.set(w.layer, d.map(() => 0));
    w.deltas.forEach((input, fi) => { weightFeeds[input] = { type: DataType.FLOAT, dims: w.dims, data: d[fi] }; });
  }
  const actSums = new Map<string, { fisher: number; taylor: number }>();
  let signal = 0;
  let samples = 0;
  const t1 = performance.now();
  try {
    for await (const b of o.data.batches(batch)) {
      if (o.maxSamples !== undefined && samples >= o.maxSamples) break;
      throwIfAborted(o.signal);
      const n = firstDim(b.feeds);
      for (let p = 0; p < projections; p++) {
        const feeds: Record<string, Tensor> = { ...b.feeds, ...weightFeeds };
        // each Fisher sum is fed and written back into the same buffer by its Add (ViT-B/16's 86M values: no fresh
        // output of ORT's every run; the Adds took 10 of the screening's 21 s of kernel time). onnxruntime-node 1.30
        // still returns a copy of each (dropped): bench/ort-output-copy.bench.ts
        const into: Record<string, Tensor> = {};
        for (const w of built.weights) into[w.fisherOut] = feeds[w.fisherIn] = { type: DataType.FLOAT, dims: w.dims, data: fisherW.get(w.layer)! };
        for (const pr of built.projections) {
          const dims = n === batch ? pr.dims : [n, ...pr.dims.slice(1)];
          const size = dims.reduce((a, c) => a * c, 1);
          feeds[pr.input] = { type: DataType.FLOAT, dims, data: Float32Array.from({ length: size }, () => (rng.next() < 0.5 ? -1 : 1)) };
        }
        const out = await session.run(feeds, built.fetches, into);
        for (const w of built.weights) {
          const t = taylorW.get(w.layer);
          if (t) w.dots.forEach((name, fi) => { t[fi] += Number(out[name].data[0]) ** 2; });
        }
        for (const g of built.gathers) {
          const dots = addGatherRun(g, out[g.indices], out[g.gy], fisherW.get(g.layer)!, deltas.get(g.layer));
          const t = taylorW.get(g.layer);
          if (t) dots.forEach((v, fi) => { t[fi] += v * v; });
        }
        for (const f of built.factors) {
          if (built.unsupported.has(f.layer)) continue;
          if (!factors.add(f.layer, Float32Array.from(toFloat32(out[f.x])), Float32Array.from(toFloat32(out[f.gy])))) {
            built.unsupported.set(f.layer, `the factors of its weight's gradient over the samples exceed ${factors.limit} values (kept in memory for the screening)`);
          }
        }
        for (const a of built.activations) {
          const s = actSums.get(a.id) ?? { fisher: 0, taylor: 0 };
          s.fisher += Number(out[a.fisher].data[0]);
          const t = Number(out[a.dot].data[0]);
          s.taylor += t * t;
          actSums.set(a.id, s);
        }
        if (p === 0) for (const y of o.floatOutputs) if (out[y]) for (const v of toFloat32(out[y])) signal += v * v;
      }
      samples += n;
      o.onBatch?.(samples);
    }
  } finally {
    await session.release();
  }
  const runMs = performance.now() - t1;
  // Energies per layer and format; the projections' average.
  const scale = 1 / projections;
  const weightNoise = new Map<string, Map<string, NoiseEnergy>>();
  for (const w of [...built.weights, ...built.gathers]) {
    const m = new Map<string, NoiseEnergy>();
    const G = fisherW.get(w.layer)!;
    const d = deltas.get(w.layer), t = taylorW.get(w.layer);
    for (const [fi, f] of wFormats.entries()) {
      // with the Taylor term, δW (and the weight SQNR) came from the quantization done before the runs
      const e = d ? weightedSquares(G, d[fi]) : weighted(w.layer, f, G);
      m.set(formatKey(f), { fisher: e * scale, taylor: t ? t[fi] * scale : undefined });
    }
    weightNoise.set(w.layer, m);
  }
  // Big MatMul weights: the Fisher term from the stored factors (the diagonal once per layer, then every format).
  for (const f of built.factors) {
    if (built.unsupported.has(f.layer)) continue;
    const G = await factors.fisherDiagonal(f, o.backend, { threads: o.threads });
    const m = new Map<string, NoiseEnergy>();
    for (const wf of wFormats) m.set(formatKey(wf), { fisher: weighted(f.layer, wf, G) * scale });
    weightNoise.set(f.layer, m);
  }
  const activationNoise = new Map<string, Map<string, NoiseEnergy>>();
  for (const a of built.activations) {
    const s = actSums.get(a.id) ?? { fisher: 0, taylor: 0 };
    let m = activationNoise.get(a.layer);
    if (!m) activationNoise.set(a.layer, (m = new Map()));
    const prev = m.get(a.format) ?? { fisher: 0, taylor: 0 };
    m.set(a.format, { fisher: prev.fisher + s.fisher * scale, taylor: (prev.taylor ?? 0) + s.taylor * scale });
  }
  return { signal, samples, weightNoise, activationNoise, weightErrors: errors, unsupported: built.unsupported, buildMs, runMs };
}

/** The predicted isolated output SQNR (dB) of a layer with its weight in `wf` and its inputs in `af`; undefined when not screened. */
export function estimateSqnrDb(s: ScreeningResult, layer: QuantLayer, wf: NumberFormat, af: NumberFormat, estimator: Estimator = 'fisher'): number | undefined {
  const e = estimateNoise(s, layer, wf, af, estimator);
  return e === undefined ? undefined : Math.round(sqnrFromEnergies(s.signal, e) * 1000) / 1000;
}

/** The predicted output error energy of a layer in formats (wf, af); undefined when it was not screened. */
export function estimateNoise(s: ScreeningResult, layer: QuantLayer, wf: NumberFormat, af: NumberFormat, estimator: Estimator = 'fisher'): number | undefined {
  if (s.unsupported.has(layer.name)) return undefined;
  let e = 0;
  const pick = (n: NoiseEnergy | undefined) => (n ? (estimator === 'taylor' && n.taylor !== undefined ? n.taylor : n.fisher) : undefined);
  if (layer.weight && wf.kind !== 'float') {
    const v = pick(s.weightNoise.get(layer.name)?.get(formatKey(wf)));
    if (v === undefined) return undefined;
    e += v;
  }
  if (layer.activationInputs.length && af.kind !== 'float') {
    const v = pick(s.activationNoise.get(layer.name)?.get(formatKey(af)));
    if (v === undefined) return undefined;
    e += v;
  }
  return e;
}

function fakeWeight(o: ScreeningOptions, layer: string, f: NumberFormat): Float32Array {
  const l = o.layers.find((x) => x.name === layer)!;
  return quantizeWeight(o.floatWeights.get(layer)!, l.weight!.dims, f, l.weight!.channelAxis, l.weight!.reductionAxis).fake;
}

/** Σ G·d². */
function weightedSquares(G: Float32Array, d: Float32Array): number {
  const n = d.length;
  let e = 0;
  for (let i = 0; i < n; i++) { const v = d[i]; e += G[i] * v * v; }
  return e;
}

/** Σ G·(q − w)², without the difference as an array. */
function weightedNoise(G: Float32Array, w: Float32Array, q: Float32Array): number {
  const n = w.length;
  let e = 0;
  for (let i = 0; i < n; i++) { const v = q[i] - w[i]; e += G[i] * v * v; }
  return e;
}

/** q − w. */
function difference(q: Float32Array, w: Float32Array): Float32Array {
  const d = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) d[i] = q[i] - w[i];
  return d;
}

interface BuiltScreening {
  model: ModelProto;
  fetches: string[];
  projections: { input: string; dims: number[] }[];
  /** Per weight: the Fisher accumulator's input and output, the Taylor term's δW inputs (one per weight format) and Σ g·δW outputs. */
  weights: { layer: string; dims: number[]; fisherIn: string; fisherOut: string; deltas: string[]; dots: string[] }[];
  /** Big MatMul weights screened through their factors (see screening-factors.ts). */
  factors: FactorLayer[];
  /** Embedding tables screened from their rows (see screening-gather.ts). */
  gathers: GatherLayer[];
  /** Weights read as graph inputs (the factored ones), fed from the float weights. */
  weightInputs: { input: string; layer: string }[];
  activations: { id: string; layer: string; format: string; fisher: string; dot: string }[];
  unsupported: Map<string, string>;
}

/** Builds forward + backward of the float model with the noise reductions and the weights' Fisher accumulators as outputs (with δW inputs for the Taylor term of `taylorFormats` weight formats). */
async function buildScreeningModel(o: ScreeningOptions, first: Record<string, Tensor>, taylorFormats: number): Promise<BuiltScreening> {
  const file = o.graph.file;
  const src = o.graph.opset < 13 ? upgradeOpset(o.graph.model, 13, { file }) : o.graph.model;
  const graph = src === o.graph.model ? o.graph : new Graph(src, file);
  const probe = await probeModel(o.backend, src, first);
  const shapes = new Map(probe.shapes);
  const b = new GraphBuilder('quantlens_screening');
  for (const n of graph.nodes) for (const t of [n.name, ...n.inputs, ...n.outputs]) if (t) b.fresh(t);
  for (const i of graph.inputs) b.input(i.name, i.elemType, shapes.get(i.name));
  const isFloat = (t: string) => { const ty = probe.types.get(t); return ty === DataType.FLOAT; };
  // Big MatMul weights: screened through their factors. They and every MatMul, Gemm and Gather weight are read as inputs
  // fed from the float weights in memory (ONNX Runtime reads the buffer in place: no copy in the encoded model, in the
  // session or prepacked; Conv weights stay initializers, ONNX Runtime's NCHWc kernels need them constant).
  const factored = new Map<string, QuantLayer>();
  const gathered = new Map<string, QuantLayer>();
  const weightInputs = new Map<string, string>();
  for (const l of o.layers) {
    const n = graph.byName.get(l.name);
    if (!n || !l.weight || !o.floatWeights.has(l.name) || !graph.initializers.has(l.weight.tensor) || !isFloat(l.weight.tensor)) continue;
    if (factorable(n.opType, n.inputs.indexOf(l.weight.tensor), l.weight.dims, o.factorMinValues) && l.activationInputs.includes(n.inputs[0]) && isFloat(n.inputs[0])) factored.set(l.name, l);
    if (factored.has(l.name) || FED_WEIGHT_OPS.has(n.opType)) weightInputs.set(l.weight.tensor, l.name);
    if (o.sparseGathers !== false && sparseGather(n.opType, n.inputs.indexOf(l.weight.tensor), attrInt(n.proto, 'axis', 0), l.weight.dims.length)) gathered.set(l.name, l);
  }
  for (const t of src.graph!.initializer ?? []) {
    if (weightInputs.has(t.name ?? '')) b.input(t.name!, DataType.FLOAT, (t.dims ?? []).map(Number));
    else b.initializerProto(t);
  }
  const constInts = (t: string) => probe.ints.get(t) ?? intsOf(graph, t);
  const ctx = new GradContext(b, DataType.FLOAT, shapes, new Set(), constInts, file);

  // Forward: each layer reads its weight and activation inputs through its own Identity, so that the gradient
  // with respect to that copy is this layer's alone (a tensor read by two layers, a weight shared by two).
  const byNode = new Map(o.layers.map((l, k) => [l.name, { l, k }]));
  const wrt: string[] = [];
  const weightCopy = new Map<string, string>();
  const actCopies: { layer: QuantLayer; tensor: string; copy: string }[] = [];
  const fwd: FwdNode[] = [];
  const factorOf = new Map<string, { x: string; y: string }>();
  for (const n of graph.nodes) {
    const hit = byNode.get(n.name);
    let inputs = n.inputs.slice();
    if (hit) {
      const { l, k } = hit;
      const copyOf = (t: string, hint: string): string => {
        const c = b.fresh(hint);
        const proto = { name: b.fresh(`${hint}_id`), op_type: 'Identity', input: [t], output: [c], attribute: [], domain: '' };
        fwd.push({ name: proto.name, opType: 'Identity', inputs: [t], outputs: [c], proto });
        shapes.set(c, shapes.get(t) ?? []);
        wrt.push(c);
        return c;
      };
      if (l.weight && o.floatWeights.has(l.name) && isFloat(l.weight.tensor) && !factored.has(l.name) && !gathered.has(l.name)) {
        const c = copyOf(l.weight.tensor, `ql_sw_${k}`);
        weightCopy.set(l.name, c);
        inputs = inputs.map((i) => (i === l.weight!.tensor ? c : i));
      }
      l.activationInputs.forEach((x, j) => {
        if (!isFloat(x)) return;
        const c = copyOf(x, `ql_sa_${k}_${j}`);
        actCopies.push({ layer: l, tensor: x, copy: c });
        inputs = inputs.map((i) => (i === x ? c : i));
      });
      if (factored.has(l.name)) { factorOf.set(l.name, { x: inputs[0], y: n.outputs[0] }); wrt.push(n.outputs[0]); }
      if (gathered.has(l.name)) wrt.push(n.outputs[0]);
    }
    fwd.push({ ...n, inputs, proto: { ...n.proto, input: inputs } });
  }
  const req = requiresGrad(fwd, wrt);
  const nodes = prepareForward(fwd, req, shapes);
  for (const n of nodes) b.nodes.push(n.proto);

  // Seeds: a random projection input per float output.
  const projections = o.floatOutputs.map((y, i) => ({ input: b.input(`ql_proj_${i}`, DataType.FLOAT, shapes.get(y)), dims: shapes.get(y)!, output: y }));
  const blocked = new Map<string, string>();
  const custom = new Map<string, GradRule>();
  for (const n of nodes) {
    const rule = n.proto.domain ? undefined : n.opType === 'MatMul' ? weightMatMulRule : GRAD_RULES[n.opType];
    custom.set(n.name, (c, node, gys) => {
      if (!rule) { blocked.set(node.name, `no gradient rule for ${node.opType}${node.proto.domain ? ` (${node.proto.domain})` : ''}`); return []; }
      try {
        return rule(c, node, gys);
      } catch (e) {
        blocked.set(node.name, `${node.opType}: ${e instanceof Error ? e.message : e}`);
        return [];
      }
    });
  }
  const grads = emitBackward({ b, nodes, wrt, seeds: new Map(projections.map((p) => [p.output, p.input])), shapes, dtype: DataType.FLOAT, constInts, custom, file });

  // Layers upstream of a node the autodiff cannot pass are not screened.
  const unsupported = new Map<string, string>();
  if (blocked.size) {
    const names = new Set(blocked.keys());
    for (const l of o.layers) {
      const node = graph.byName.get(l.name);
      if (!node) continue;
      const hit = [node, ...graph.downstreamNodes(node.outputs.filter(Boolean))].find((d) => names.has(d.name));
      if (hit) unsupported.set(l.name, `${blocked.get(hit.name)} (node '${hit.name}')`);
    }
  }
  for (const l of o.layers) if (!unsupported.has(l.name) && !weightCopy.has(l.name) && !gathered.has(l.name) && !actCopies.some((a) => a.layer === l)) unsupported.set(l.name, 'no float weight or activation input to differentiate');

  const fetches: string[] = [];
  const out = (t: string, dims: number[]) => { const r = b.node('Identity', [t]); b.output(r, DataType.FLOAT, dims); fetches.push(r); return r; };
  const weights: BuiltScreening['weights'] = [];
  for (const [layer, copy] of weightCopy) {
    if (unsupported.has(layer)) continue;
    const g = grads.get(copy);
    if (!g) { unsupported.set(layer, 'the outputs do not depend on its weight'); continue; }
    const dims = shapes.get(copy)!, k = weights.length;
    const fisherIn = b.input(`ql_fisher_${k}`, DataType.FLOAT, dims);
    const deltas = Array.from({ length: taylorFormats }, (_, fi) => b.input(`ql_dw_${k}_${fi}`, DataType.FLOAT, dims));
    const dots = deltas.map((d) => out(b.node('ReduceSum', [b.node('Mul', [g, d])], { keepdims: 0 }), []));
    weights.push({ layer, dims, fisherIn, fisherOut: out(b.node('Add', [fisherIn, b.node('Mul', [g, g])]), dims), deltas, dots });
  }
  const factors: FactorLayer[] = [];
  for (const [layer, { x, y }] of factorOf) {
    if (unsupported.has(layer)) continue;
    const g = grads.get(y);
    if (!g) { unsupported.set(layer, 'the outputs do not depend on its weight'); continue; }
    const [inDim, outDim] = factored.get(layer)!.weight!.dims;
    factors.push({ layer, x: out(x, shapes.get(x)!), gy: out(g, shapes.get(y)!), inDim, outDim });
  }
  const gathers: GatherLayer[] = [];
  for (const [layer, l] of gathered) {
    if (unsupported.has(layer)) continue;
    const n = graph.byName.get(layer)!;
    const g = grads.get(n.outputs[0]);
    if (!g) { unsupported.set(layer, 'the outputs do not depend on its weight'); continue; }
    const indices = b.node('Identity', [n.inputs[1]]);
    b.output(indices, probe.types.get(n.inputs[1]) ?? DataType.INT64, shapes.get(n.inputs[1]));
    fetches.push(indices);
    gathers.push({ layer, indices, gy: out(g, shapes.get(n.outputs[0])!), dims: l.weight!.dims.slice() });
  }
  const activations: BuiltScreening['activations'] = [];
  const aFormats = o.activationFormats.filter((f) => f.kind !== 'float');
  for (const [i, a] of actCopies.entries()) {
    if (unsupported.has(a.layer.name)) continue;
    const g = grads.get(a.copy);
    if (!g) continue; // this input does not reach the outputs (its noise is zero)
    for (const [fi, f] of aFormats.entries()) {
      const delta = noiseOf(ctx, a.copy, o.activationSetting(a.tensor, f), f, `ql_n_${i}_${fi}`);
      if (!delta) { unsupported.set(a.layer.name, `no in-graph noise model for activation format ${f.kind}`); continue; }
      // Σ g²δ² = Σ (gδ)² and Σ gδ from one product
      const gd = b.node('Mul', [g, delta]);
      const fisher = out(b.node('ReduceSumSquare', [gd], { keepdims: 0 }), []);
      const dot = out(b.node('ReduceSum', [gd], { keepdims: 0 }), []);
      activations.push({ id: `${i}|${fi}`, layer: a.layer.name, format: formatKey(f), fisher, dot });
    }
  }
  for (const y of o.floatOutputs) { b.output(y, DataType.FLOAT, shapes.get(y)); fetches.push(y); }
  const opset = Math.max(17, graph.opset);
  const model = b.model(opset, (src.opset_import ?? []).filter((x) => x.domain && x.domain !== 'ai.onnx').map((x) => ({ domain: x.domain!, version: Number(x.version) })));
  model.graph!.value_info = [];
  return { model, fetches, projections: projections.map((p) => ({ input: p.input, dims: p.dims })), weights, factors, gathers, weightInputs: [...weightInputs].map(([input, layer]) => ({ input, layer })), activations: activations.filter((a) => !unsupported.has(a.layer)), unsupported };
}

/** Emits δ = FQ(x) − x for an activation setting (int: the QDQ arithmetic with baked parameters; half: float16 rounding). */
function noiseOf(ctx: GradContext, x: string, s: ActivationSetting, f: NumberFormat, hint: string): string | undefined {
  const b = ctx.b;
  if (s.kind === 'int') {
    const sc = b.constFloat(`${hint}_s`, [s.params.scale[0]], []);
    const zp = s.params.zeroPoint[0];
    // 8-bit full ranges: QuantizeLinear → DequantizeLinear, the same values (MLAS divides, clamps the quotient to the
    // bounds less the zero point, rounds half to even, and dequantizes (q − z)·s), in 2 ops with a 1-byte intermediate
    const q8 = qdqType(s.params.qmin, s.params.qmax, zp);
    if (q8 !== undefined) {
      const z = b.initializer(`${hint}_z`, { type: q8, dims: [], data: q8 === DataType.INT8 ? Int8Array.of(zp) : Uint8Array.of(zp) });
      return b.node('Sub', [b.node('DequantizeLinear', [b.node('QuantizeLinear', [x, sc, z]), sc, z]), x]);
    }
    // clamp(round(x/s) + z, qmin, qmax) - z = clamp(round(x/s), qmin - z, qmax - z): the zero point (an integer) folds into the bounds
    const lo = b.constFloat(`${hint}_lo`, [s.params.qmin - zp], []);
    const hi = b.constFloat(`${hint}_hi`, [s.params.qmax - zp], []);
    const magic = ctx.scalar(ROUND_MAGIC);
    const r = b.node('Sub', [b.node('Add', [b.node('Div', [x, sc]), magic]), magic]);
    const c = b.node('Min', [b.node('Max', [r, lo]), hi]);
    return b.node('Sub', [b.node('Mul', [c, sc]), x]);
  }
  if (s.kind === 'half') {
    const to = f.kind === 'bfloat16' ? DataType.BFLOAT16 : f.kind === 'float16' ? DataType.FLOAT16 : undefined;
    if (to === undefined) return undefined;
    return b.node('Sub', [b.node('Cast', [b.node('Cast', [x], { to })], { to: DataType.FLOAT }), x]);
  }
  return undefined;
}

/** The ONNX 8-bit type whose full range is [qmin, qmax] and holds the zero point, if any. */
function qdqType(qmin: number, qmax: number, zp: number): DataType | undefined {
  if (!Number.isInteger(zp) || zp < qmin || zp > qmax) return undefined;
  if (qmin === -128 && qmax === 127) return DataType.INT8;
  if (qmin === 0 && qmax === 255) return DataType.UINT8;
  return undefined;
}

async function firstBatch(data: DataSource, batch: number): Promise<Record<string, Tensor>> {
  for await (const b of data.batches(batch)) return b.feeds;
  throw new QuantLensError('data-empty', 'the data source yielded no samples', data.description.source);
}

function firstDim(feeds: Record<string, Tensor>): number {
  const t = Object.values(feeds)[0];
  return t?.dims.length ? t.dims[0] : 1;
}

function intsOf(graph: Graph, t: string): number[] | undefined {
  const v = graph.constantValue(t);
  if (!v || (v.type !== DataType.INT64 && v.type !== DataType.INT32)) return undefined;
  return Array.from(v.data as ArrayLike<number | bigint>, Number);
}
