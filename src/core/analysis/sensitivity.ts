/**
 * Per-layer sensitivity: weight error (pure JS), local output error and isolated end-to-end error (only
 * this layer quantized) from one downstream-only session per layer fed with cached float activations,
 * and all-but-one / whole-configuration metrics from the configurable model.
 */
import { createModelSession } from '../runtime/fed-weights';
import { createHash } from 'crypto';
import { Graph } from '../onnx/graph';
import { QuantLayer } from '../onnx/layer';
import { DataType } from '../onnx/proto';
import { encodeModelProto } from '../onnx/proto';
import { Tensor, tensorToProto, toFloat32 } from '../onnx/tensor-data';
import { InferenceBackend, RuntimeSession } from '../runtime/backend';
import { activationParams, QuantParams, splitDims } from '../quant/qparams';
import { fakeQuantize, fakeQuantizeFloat, quantizeWeight } from '../quant/quantize';
import { createCalibrator } from '../quant/calibrate';
import { CalibrationSpec } from '../../shared/recipe';
import { mustParseFormat, NumberFormat } from '../../shared/formats';
import { EndToEndMetrics, FormatCandidate, LayerFormatResult } from '../../shared/report';
import { ActivationCache, throwIfAborted } from './activation-cache';
import { ErrorAccumulator, MetricsAccumulator, OutputLayout, sqnrFromEnergies } from './metrics';
import { LogitsKernel } from './logits-kernel';
import { DownstreamModel, downstreamModel, localModel } from './subgraph';
import type { ConfigurationMemo } from './analysis-state';
import type { ActivationObserver } from './layer-stats';
import { batchAxisFree, sliceFeeds } from './batch-slices';
import { ActivationSetting, buildConfigurableModel, ConfigurableModel, Configuration, configurationFeeds } from './config-model';
import { createProtoSession } from '../runtime/proto-session';

/** Everything the sensitivity runs share: the graph, its layers, the cache and the calibrated ranges. */
export interface SensitivityContext {
  graph: Graph;
  layers: QuantLayer[];
  backend: InferenceBackend;
  cache: ActivationCache;
  layout: OutputLayout;
  /** Float weight values per layer name. */
  floatWeights: Map<string, Float32Array>;
  /** Values of derived constants the subgraphs read. */
  constants: Map<string, Tensor>;
  calibration: CalibrationSpec;
  /** Intra-op threads (undefined: the runtime's default, one per core). */
  threads?: number;
  executionProviders?: string[];
  signal?: AbortSignal;
  /** How the isolated runs feed the layer's weight: as a graph input (one session per layer), baked in (one per weight format), or auto. */
  weightMode?: 'input' | 'baked' | 'auto';
  /** Statistics and calibration of input activations gathered during the float pass (when they are not cached). */
  observer?: ActivationObserver;
  /** Measure the local (layer output) error too (default true). */
  localError?: boolean;
}

/** Time spent in the isolated runs, for the benchmark (ms). */
export interface SensitivityTimings {
  sessionMs: number;
  runMs: number;
  totalMs: number;
}

const rangeMemo = new WeakMap<SensitivityContext, Map<string, { min: number; max: number }>>();

/** The calibrated range of activation `tensor` for an activation format (memoized per context). */
export function activationRange(ctx: SensitivityContext, tensor: string, format: NumberFormat): { min: number; max: number } {
  let memo = rangeMemo.get(ctx);
  if (!memo) rangeMemo.set(ctx, (memo = new Map()));
  // min-max calibration gives the same range for every format: one read of the cache per tensor
  const key = ctx.calibration.method === 'minmax' || format.kind !== 'int' ? `${tensor}|minmax` : `${tensor}|${JSON.stringify(format)}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const observed = ctx.observer?.range(tensor, format);
  if (observed) { memo.set(key, observed); return observed; }
  const cal = createCalibrator(ctx.calibration, format);
  for (let b = 0; b < ctx.cache.batches; b++) cal.observe(toFloat32(ctx.cache.get(b, tensor)));
  const r = cal.range();
  memo.set(key, r);
  return r;
}

/** The activation setting of a format for activation `tensor`. */
export function activationSetting(ctx: SensitivityContext, tensor: string, format: NumberFormat): ActivationSetting {
  if (format.kind === 'int') {
    const r = activationRange(ctx, tensor, format);
    return { kind: 'int', params: activationParams(r.min, r.max, format) };
  }
  if (format.kind === 'float16' || format.kind === 'bfloat16' || format.kind === 'float8') return { kind: 'half' };
  return { kind: 'float' };
}

/** Fake-quantizes activation values in JS as a QDQ pair (or float16 rounding) would. */
function fakeQuantActivation(t: Tensor, setting: ActivationSetting, format: NumberFormat): Tensor {
  if (setting.kind === 'float') return t;
  const x = toFloat32(t);
  if (setting.kind === 'int') return { type: DataType.FLOAT, dims: t.dims, data: fakeQuantize(x, t.dims, setting.params) };
  const name = format.kind === 'bfloat16' ? 'bfloat16' : format.kind === 'float8' ? (format.variant === 'e4m3fn' ? 'float8e4m3fn' : 'float8e5m2') : 'float16';
  return { type: DataType.FLOAT, dims: t.dims, data: fakeQuantizeFloat(x, name) };
}

/** Weight SQNR (dB) over the tensor and per output channel. */
export interface WeightErrors { total: number; channels: number[] }

/** Weight SQNR over the tensor and per output channel. */
export function weightErrors(w: Float32Array, q: Float32Array, dims: readonly number[], channelAxis: number): WeightErrors;
/** The same, with Σ G·(q − w)² in element order as `weighted` (one pass over w, q and G). */
export function weightErrors(w: Float32Array, q: Float32Array, dims: readonly number[], channelAxis: number, G: Float32Array): WeightErrors & { weighted: number };
export function weightErrors(w: Float32Array, q: Float32Array, dims: readonly number[], channelAxis: number, G?: Float32Array): WeightErrors & { weighted?: number } {
  if (!dims.length) {
    const acc = new ErrorAccumulator();
    acc.add(w, q);
    const r = { total: acc.sqnrDb(), channels: [] };
    return G ? { ...r, weighted: weightedSum(G, w, q, 0, w.length) } : r;
  }
  const { outer, extent, inner } = splitDims(dims, channelAxis);
  const sig = new Float64Array(extent);
  const noi = new Float64Array(extent);
  // the totals in element order, as ErrorAccumulator sums them (the same dB to the last bit)
  let S = 0, N = 0, E = 0;
  if (inner === 1) {
    if (G) for (let o = 0, i = 0; o < outer; o++) for (let c = 0; c < extent; c++, i++) {
      const v = w[i]; const d = v - q[i]; const vv = v * v, dd = d * d;
      sig[c] += vv; noi[c] += dd; S += vv; N += dd; E += G[i] * d * d;
    } else for (let o = 0, i = 0; o < outer; o++) for (let c = 0; c < extent; c++, i++) {
      const v = w[i]; const d = v - q[i]; const vv = v * v, dd = d * d;
      sig[c] += vv; noi[c] += dd; S += vv; N += dd;
    }
  } else for (let o = 0, i = 0; o < outer; o++) for (let c = 0; c < extent; c++) {
    let s = 0, n = 0;
    const start = i;
    for (const end = i + inner; i < end; i++) { const v = w[i]; const d = v - q[i]; const vv = v * v, dd = d * d; s += vv; n += dd; S += vv; N += dd; }
    if (G) E = weightedSum(G, w, q, start, i, E);
    sig[c] += s;
    noi[c] += n;
  }
  const r = { total: sqnrFromEnergies(S, N), channels: Array.from(sig, (s, c) => round3(sqnrFromEnergies(s, noi[c]))) };
  return G ? { ...r, weighted: E } : r;
}

/** e + Σ G·(q − w)² over [start, end), in element order ((G·d)·d with d = w − q: the same value as with q − w). */
function weightedSum(G: Float32Array, w: Float32Array, q: Float32Array, start: number, end: number, e = 0): number {
  for (let i = start; i < end; i++) { const d = w[i] - q[i]; e += G[i] * d * d; }
  return e;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** Weights with at least this many values are fed to the isolated runs' sessions, never baked into them. */
export const BAKE_MAX_VALUES = 1 << 24;

/** The weight of a layer quantized in a format: fake values and parameters (undefined when the format keeps it float). */
export function quantizedWeight(ctx: SensitivityContext, layer: QuantLayer, format: NumberFormat): { fake: Float32Array; params?: QuantParams } | undefined {
  if (!layer.weight || format.kind === 'float') return undefined;
  const w = ctx.floatWeights.get(layer.name)!;
  return quantizeWeight(w, layer.weight.dims, format, layer.weight.channelAxis, layer.weight.reductionAxis);
}

/**
 * Weight, local and isolated end-to-end errors of one layer for every candidate that applies to it
 * (a weight-only candidate does not apply to a layer without weights). The end-to-end error comes from a
 * session running only the layer and what is downstream of it; the local error from a session running the
 * layer alone (kept apart so the downstream session stays fully fused).
 */
export async function analyzeLayerIsolated(ctx: SensitivityContext, layer: QuantLayer, candidates: readonly FormatCandidate[], timings?: SensitivityTimings): Promise<Record<string, LayerFormatResult>> {
  const t0 = performance.now();
  const results: Record<string, LayerFormatResult> = {};
  const plans = candidates.map((c) => ({ c, wf: mustParseFormat(c.weights), af: mustParseFormat(c.activations) }))
    .filter((p) => (p.wf.kind !== 'float' && layer.weight) || (p.af.kind !== 'float' && layer.activationInputs.length));
  if (!plans.length) return results;
  const typeOf = (t: string) => ctx.cache.get(0, t).type;
  // The sample axis is symbolic where a tensor has it (first dim = the batch's samples); other dims stay fixed
  // (a [1, seq] position tensor or a broadcast mask must not be declared with the batch's symbol).
  const n0 = ctx.cache.get(0, ctx.graph.inputs[0].name).dims[0];
  const shapeOf = (t: string) => { const d = ctx.cache.get(0, t).dims; return d.length ? [d[0] === n0 ? 'N' : d[0], ...d.slice(1)] : d; };
  const dm = downstreamModel(ctx.graph, layer, ctx.constants, typeOf, { shapeOf });
  const lm = ctx.localError === false ? undefined : localModel(ctx.graph, layer, ctx.constants, typeOf, { shapeOf });
  const floatW = ctx.floatWeights.get(layer.name);
  // Weight as a graph input: one session serves every format, but ORT cannot fuse or re-layout (NCHWc) the
  // layer. Weight baked in as an initializer: full optimization, one session per weight format. 'auto' bakes
  // when at most two weight values are needed, and the weight is under BAKE_MAX_VALUES (a baked copy of a big weight
  // costs it three times over: initializer, encoded model, ORT's parsed copy; fed, ORT reads the buffer in place).
  const weightKeys = new Set(plans.map((p) => (p.wf.kind === 'float' ? 'float' : JSON.stringify(p.wf))));
  const bake = !!dm.weightInput && !!floatW && floatW.length < BAKE_MAX_VALUES && (ctx.weightMode === 'baked' || ((ctx.weightMode ?? 'auto') === 'auto' && weightKeys.size <= 2));
  const sessions = new Map<string, RuntimeSession>();
  const logits = new LogitsKernel(ctx.backend);
  const sessionFor = async (m: DownstreamModel, key: string, value?: Float32Array): Promise<RuntimeSession> => {
    const k = `${m.model.graph!.name}|${bake ? key : '*'}`;
    let s = sessions.get(k);
    if (s) return s;
    let model = m.model;
    if (bake) {
      const g = model.graph!;
      model = { ...model, graph: { ...g, input: g.input!.filter((i) => i.name !== m.weightInput), initializer: [...g.initializer!, tensorToProto(m.weightInput!, { type: DataType.FLOAT, dims: layer.weight!.dims, data: value ?? floatW! })] } };
    }
    const ts = performance.now();
    s = await createModelSession(ctx.backend, model, { optimization: 'all', threads: ctx.threads, executionProviders: ctx.executionProviders });
    if (timings) timings.sessionMs += performance.now() - ts;
    sessions.set(k, s);
    return s;
  };
  try {
    for (const { c, wf, af } of plans) {
      throwIfAborted(ctx.signal);
      const r: LayerFormatResult = {};
      const qw = quantizedWeight(ctx, layer, wf);
      const key = wf.kind === 'float' ? 'float' : JSON.stringify(wf);
      const down = await sessionFor(dm, key, qw?.fake);
      const loc = lm ? await sessionFor(lm, key, qw?.fake) : undefined;
      if (qw && floatW && layer.weight) {
        const e = weightErrors(floatW, qw.fake, layer.weight.dims, layer.weight.channelAxis);
        r.weightSqnrDb = round3(e.total);
        r.weightChannelSqnrDb = e.channels;
      }
      const settings = layer.activationInputs.map((x) => activationSetting(ctx, x, af));
      const metrics = new MetricsAccumulator(ctx.layout, logits);
      const local = { signal: 0, noise: 0 };
      for (let b = 0; b < ctx.cache.batches; b++) {
        const feeds: Record<string, Tensor> = {};
        if (dm.weightInput && floatW && !bake) feeds[dm.weightInput] = { type: DataType.FLOAT, dims: layer.weight!.dims, data: qw?.fake ?? floatW };
        dm.activationInputs.forEach((a, j) => { feeds[a.input] = fakeQuantActivation(ctx.cache.get(b, a.tensor), settings[j], af); });
        for (const t of dm.boundary) feeds[t] = ctx.cache.get(b, t);
        const tr = performance.now();
        const out = dm.outputs.length ? await down.run(feeds, dm.outputs) : {};
        if (loc && lm) {
          const lf: Record<string, Tensor> = { [lm.localRefInput]: ctx.cache.get(b, lm.localOutput) };
          for (const k of Object.keys(feeds)) if (k === lm.weightInput || lm.activationInputs.some((a) => a.input === k) || lm.boundary.includes(k)) lf[k] = feeds[k];
          for (const t of lm.boundary) lf[t] ??= ctx.cache.get(b, t);
          const lo = await loc.run(lf, [lm.localNoiseOutput, lm.localSignalOutput]);
          local.signal += Number(lo[lm.localSignalOutput].data[0]);
          local.noise += Number(lo[lm.localNoiseOutput].data[0]);
        }
        if (timings) timings.runMs += performance.now() - tr;
        const full: Record<string, Tensor> = {};
        const ref: Record<string, Tensor> = {};
        for (const o of ctx.graph.outputs) {
          ref[o.name] = ctx.cache.get(b, o.name);
          full[o.name] = out[o.name] ?? ref[o.name];
        }
        await metrics.add(ref, full, ctx.cache.labels(b), `${b}`);
      }
      if (lm) r.localSqnrDb = round3(sqnrFromEnergies(local.signal, local.noise));
      r.isolated = roundMetrics(metrics.result());
      results[c.id] = r;
    }
  } finally {
    for (const s of sessions.values()) await s.release();
    await logits.release();
    if (timings) timings.totalMs += performance.now() - t0;
  }
  return results;
}

/** Rounds metrics to sensible precision for the report. */
export function roundMetrics(m: EndToEndMetrics): EndToEndMetrics {
  const out: EndToEndMetrics = { sqnrDb: round3(m.sqnrDb), mse: m.mse, cosine: m.cosine };
  if (m.klDiv !== undefined) out.klDiv = m.klDiv;
  if (m.top1Agreement !== undefined) out.top1Agreement = m.top1Agreement;
  if (m.accuracy !== undefined) out.accuracy = m.accuracy;
  return out;
}

/**
 * Per layer the formats of a configuration: layer name → [weights, activations]; absent layers stay float.
 * `weightValues` replaces the layer's rounded-to-nearest weight by given values (a repair algorithm's grid values).
 */
export type LayerFormats = Map<string, { weights: NumberFormat; activations: NumberFormat; weightValues?: Float32Array }>;

/** Runs whole-model configurations in one configurable-model session. */
export class ConfigurationRunner {
  private readonly weightMemo = new Map<string, Float32Array>();
  /** The classifier metrics' sessions (opened on the first big classifier batch, freed with the configurable model's). */
  private readonly logits: LogitsKernel;

  /** Configurations run so far (the runs, not memo hits). */
  runs = 0;

  /** Samples per run (a cached batch runs in slices of at most this many; undefined: whole batches). */
  private samplesPerRun?: number;

  private constructor(private readonly ctx: SensitivityContext, private readonly cm: ConfigurableModel, private session: RuntimeSession | undefined, private readonly memo?: ConfigurationMemo) {
    this.logits = new LogitsKernel(ctx.backend);
  }

  /**
   * Builds the configurable model of the context's layers and opens its session; `memo` keeps measured configurations
   * (resume); `samplesPerRun` runs each cached batch in slices of that many samples (the session's activations and
   * fake quantizers' temporaries follow the samples of a run; sums over the same values in the same order), when the
   * model's first input axis is free and inputs and outputs are batch-first.
   */
  static async create(ctx: SensitivityContext, opts: { halfActivations?: boolean; memo?: ConfigurationMemo; samplesPerRun?: number } = {}): Promise<ConfigurationRunner> {
    const cm = buildConfigurableModel(ctx.graph, ctx.layers, opts);
    const r = new ConfigurationRunner(ctx, cm, await openSession(ctx, cm), opts.memo);
    if (opts.samplesPerRun && batchAxisFree(ctx.graph)) r.samplesPerRun = Math.max(1, Math.floor(opts.samplesPerRun));
    return r;
  }

  /** A short stable key of per-layer formats. */
  private keyOf(formats: LayerFormats): string {
    const h = createHash('sha256');
    for (const l of this.ctx.layers) {
      const f = formats.get(l.name);
      if (f) h.update(`${l.name}=${JSON.stringify(f.weights)}|${JSON.stringify(f.activations)}\0`);
      if (f?.weightValues) h.update(new Uint8Array(f.weightValues.buffer, f.weightValues.byteOffset, f.weightValues.byteLength)); // repaired weights
    }
    return h.digest('hex').slice(0, 24);
  }

  /** The Configuration (fed values) for per-layer formats. */
  configuration(formats: LayerFormats): Configuration {
    const config: Configuration = { weights: new Map(), activations: new Map() };
    for (const layer of this.ctx.layers) {
      const f = formats.get(layer.name);
      if (!f) continue;
      if (layer.weight && f.weightValues) config.weights.set(layer.name, f.weightValues);
      else if (layer.weight && f.weights.kind !== 'float') {
        const key = `${layer.name}|${JSON.stringify(f.weights)}`;
        let w = this.weightMemo.get(key);
        if (!w) this.weightMemo.set(key, (w = quantizedWeight(this.ctx, layer, f.weights)!.fake));
        config.weights.set(layer.name, w);
      }
      config.activations.set(layer.name, layer.activationInputs.map((x) => activationSetting(this.ctx, x, f.activations)));
    }
    return config;
  }

  /** Configurations measured in this run (the recommendation and the remedy search meet the same ones again). */
  private readonly seen = new Map<string, EndToEndMetrics>();

  /** Runs a configuration over all cached batches and measures its outputs against the float model's (once per configuration). */
  async measure(formats: LayerFormats): Promise<EndToEndMetrics> {
    const key = this.keyOf(formats);
    const hit = this.seen.get(key) ?? this.memo?.get(key);
    if (hit) return hit;
    const m = await this.run(formats);
    this.seen.set(key, m);
    this.memo?.set(key, m);
    return m;
  }

  private async run(formats: LayerFormats): Promise<EndToEndMetrics> {
    const ctx = this.ctx;
    this.runs++;
    const control = configurationFeeds(this.cm, this.configuration(formats), ctx.floatWeights);
    const acc = new MetricsAccumulator(ctx.layout, this.logits);
    const outs = ctx.graph.outputs.map((o) => o.name);
    for (let b = 0; b < ctx.cache.batches; b++) {
      throwIfAborted(ctx.signal);
      const inputs: Record<string, Tensor> = {};
      for (const i of ctx.graph.inputs) inputs[i.name] = ctx.cache.get(b, i.name);
      const ref: Record<string, Tensor> = {};
      for (const o of outs) ref[o] = ctx.cache.get(b, o);
      const labels = ctx.cache.labels(b);
      const n = Object.values(inputs)[0]?.dims[0] ?? 1;
      const batchFirst = [...Object.values(inputs), ...Object.values(ref)].every((t) => t.dims.length && t.dims[0] === n);
      const per = this.samplesPerRun && this.samplesPerRun < n && batchFirst ? this.samplesPerRun : n;
      for (let start = 0; start < n; start += per) {
        const end = Math.min(n, start + per);
        this.session ??= await openSession(ctx, this.cm);
        const whole = per === n;
        let out: Record<string, Tensor>;
        try {
          out = await this.session.run({ ...control, ...(whole ? inputs : sliceFeeds(inputs, start, end)) }, outs);
          if (!whole && outs.some((o) => out[o] && out[o].dims[0] !== end - start)) throw new Error('an output does not follow the slices');
        } catch (e) {
          if (whole || b > 0 || start > 0) throw e;
          this.samplesPerRun = undefined; // the model does not take slices (nothing was added yet): whole batches
          this.runs--;
          return this.run(formats);
        }
        await acc.add(whole ? ref : sliceFeeds(ref, start, end), out, whole ? labels : labels?.subarray(start, end), `${b}:${start}:${end}`);
      }
    }
    return roundMetrics(acc.result());
  }

  /** Drops the quantized weights kept between runs (one float32 copy of the weights per format): before a memory-heavy phase; later runs compute them again. */
  dropWeightCache(): void {
    this.weightMemo.clear();
  }

  /** Frees the session and the quantized weights until the next run (which opens it again): before a phase that needs the memory (its arena holds a batch's activations). */
  async suspend(): Promise<void> {
    this.dropWeightCache();
    await this.release();
  }

  /** Frees the session. */
  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.release();
    await this.logits.release();
  }
}

/** A session of the configurable model. */
function openSession(ctx: SensitivityContext, cm: ConfigurableModel): Promise<RuntimeSession> {
  return createProtoSession(ctx.backend, cm.model, { optimization: 'basic', threads: ctx.threads, executionProviders: ctx.executionProviders, arena: false }); // no arena: see ActivationCache's capture
}

/** Every layer in the same formats. */
export function uniformFormats(layers: readonly QuantLayer[], weights: NumberFormat, activations: NumberFormat): LayerFormats {
  return new Map(layers.map((l) => [l.name, { weights, activations }]));
}
