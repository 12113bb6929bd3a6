/**
 * Post-training repair of a quantization plan: per layer, the algorithm the recipe names (round to nearest,
 * AdaRound, GPTQ, bias correction, equalization, AWQ) decides the weight's integer codes (and, for some, the
 * bias or the producer's weights). The result is a float model whose repaired weights lie exactly on their
 * quantization grid plus a plan with those grids fixed, so the QDQ export and the fake-quant simulation of
 * (model, plan) write and simulate exactly the chosen codes (round to nearest of a grid value is that value).
 * Only calibration data is used (no labels); cancel through `signal`; deterministic for a seed.
 */
import { QuantLensError } from '../../errors';
import { attrFloat, constantNodeTensor, Graph } from '../../onnx/graph';
import { QuantLayer } from '../../onnx/layer';
import { DataType, ModelProto, TensorProto } from '../../onnx/proto';
import { tensorToProto, toFloat32 } from '../../onnx/tensor-data';
import { DataSource } from '../../data/source';
import { InferenceBackend } from '../../runtime/backend';
import { QuantAlgorithm } from '../../../shared/recipe';
import { QuantPlan } from '../qdq-export';
import { adaround, AdaRoundOptions } from './adaround';
import { awqScales } from './awq';
import { biasShift } from './bias-correction';
import { equalizationScales } from './equalize';
import { gptq } from './gptq';
import { gatherLayerInputs, LayerInputStats, supportsInputStats } from './layer-inputs';
import { dequantizeCodes, hasMatrixView, roundToNearest, toStored, weightMatrix } from './layer-matrix';
import { layerErrorMeter } from './layer-error';
import { applyMigration, findMigration, Migration } from './scale-migration';
import { FloatValues, gatherFloatValues, gatherPairedInputs } from './paired-inputs';
import { quantizedWeightsModel, upstreamRounds } from './sequential';
import { cuttable, RoundRuns } from './round-runs';
import { SharedSessions } from './shared-sessions';

/** Options of repairPlan. */
export interface RepairOptions {
  model: ModelProto;
  layers: readonly QuantLayer[];
  plan: QuantPlan;
  /** The algorithm per layer name (layers left out use round to nearest). */
  algorithms: ReadonlyMap<string, QuantAlgorithm>;
  data: DataSource;
  backend: InferenceBackend;
  seed?: number;
  signal?: AbortSignal;
  /** Polled between steps; true cancels (as `signal`). */
  cancelled?: () => boolean;
  /** Progress: a message and (done, total) layers. */
  onProgress?: (message: string, done: number, total: number) => void;
  adaround?: AdaRoundOptions;
  /** Calibration rows per layer for the statistics (default 8192). */
  maxRows?: number;
  /**
   * Sequential repair (default true): AdaRound, GPTQ and bias correction see the input the layer gets once the layers
   * before it are quantized (repaired ones with their codes) and aim at the float model's output of the layer.
   */
  sequential?: boolean;
  file?: string;
  /** Intra-op threads of the sessions that run the model for sequential repair (default: the machine's cores; the statistics do not depend on it). */
  threads?: number;
}

/** True when a data-fitted rounding (AdaRound, GPTQ) saw fewer calibration rows than the weight has inputs: it can fit those rows and lose elsewhere. */
export function underdetermined(l: Pick<LayerRepair, 'applied' | 'rows' | 'inputs'>): boolean {
  return (l.applied === 'adaround' || l.applied === 'gptq') && l.rows !== undefined && l.inputs !== undefined && l.rows < l.inputs;
}

/** What repair did to one layer. */
export interface LayerRepair {
  layer: string;
  /** The algorithm asked for. */
  algorithm: QuantAlgorithm;
  /** What was applied (round to nearest when the algorithm does not apply to the layer, with `note`). */
  applied: QuantAlgorithm;
  /** Layer output SQNR (dB) on the calibration rows with round to nearest, and after repair (same grid, before the bias). */
  rtnSqnrDb?: number;
  sqnrDb?: number;
  note?: string;
  /** Wall time spent on the layer (ms). */
  ms: number;
  /** Calibration rows the algorithm fitted and the weight's inputs per output (fewer rows than inputs: the fit may not hold on other data). */
  rows?: number;
  inputs?: number;
}

/** The repaired model and plan (export both together), and what happened per layer. */
export interface RepairResult {
  model: ModelProto;
  plan: QuantPlan;
  layers: LayerRepair[];
}

/**
 * Widest reduction GPTQ takes: its K × K statistics and factor (float64, ONNX Runtime products: 1.5 s and about
 * 1 GB at K = 4608, a 3x3 Conv over 512 channels) grow as K² in memory and K³ in time; wider falls back to rounding to nearest.
 */
const MAX_GPTQ_K = 4608;

/** The algorithms sequential repair feeds with the partly quantized model's inputs. */
const SEQUENTIAL = new Set<QuantAlgorithm>(['adaround', 'gptq', 'bias-correction']);

const NEEDS_DATA = new Set<QuantAlgorithm>(['adaround', 'gptq', 'bias-correction', 'awq', 'equalize']);

/** Applies the algorithms to the plan's weights; see the module comment. */
export async function repairPlan(input: RepairOptions): Promise<RepairResult> {
  // the algorithms' product sessions are loaded once for every layer
  const products = new SharedSessions(input.backend);
  try { return await repairWith(input, products); } finally { await products.close(); }
}

async function repairWith(input: RepairOptions, products: InferenceBackend): Promise<RepairResult> {
  // weights and biases held by Constant nodes (older exporters) become initializers of the same name
  const o = { ...input, model: constantsToInitializers(input.model) };
  const graph = new Graph(o.model, o.file);
  const check = () => { if (o.signal?.aborted || o.cancelled?.()) throw new QuantLensError('cancelled', 'the repair was cancelled'); };
  const planned = new Map(o.plan.filter((p) => p.weight && p.weight.format.kind === 'int').map((p) => [p.node, p]));
  const byName = new Map(o.layers.map((l) => [l.name, l]));
  const wanted = [...o.algorithms].filter(([n, a]) => a !== 'rtn' && planned.has(n) && byName.has(n));
  if (!wanted.length) return { model: o.model, plan: o.plan, layers: [] };
  const uses = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) uses.set(i, (uses.get(i) ?? 0) + 1);
  const tensorUses = (t: string) => uses.get(t) ?? 0;

  // working copies of every float initializer a repair may change
  const values = new Map<string, { data: Float32Array; dims: number[] }>();
  const changed = new Set<string>();
  const working = (name: string) => {
    let v = values.get(name);
    if (!v) {
      const t = graph.initializers.get(name) ? graph.constantValue(name) : undefined;
      if (!t || t.type !== DataType.FLOAT) throw new Error(`'${name}' is not a float initializer`);
      v = { data: Float32Array.from(toFloat32(t)), dims: t.dims.slice() };
      values.set(name, v);
    }
    return v;
  };

  const report = new Map<string, LayerRepair>();
  const fallback = (name: string, algorithm: QuantAlgorithm, note: string) => report.set(name, { layer: name, algorithm, applied: 'rtn', note, ms: 0 });
  const eligible: [string, QuantAlgorithm][] = [];
  for (const [name, algorithm] of wanted) {
    const l = byName.get(name)!;
    const node = graph.byName.get(name);
    const group = node ? Number(node.proto.attribute?.find((a) => a.name === 'group')?.i ?? 1) : 1;
    if (!l.weight || !graph.initializers.has(l.weight.tensor)) fallback(name, algorithm, 'the weight is not an initializer');
    else if (tensorUses(l.weight.tensor) !== 1) fallback(name, algorithm, 'the weight is shared by several nodes (tied): rounded to nearest once');
    else if (!hasMatrixView(l, group)) fallback(name, algorithm, `${l.kind}${group > 1 ? ` with ${group} groups` : ''} is rounded to nearest (the algorithms handle Conv with one group, Gemm and MatMul)`);
    else if (algorithm === 'gptq' && l.weight.dims.reduce((a, b) => a * b, 1) / l.weight.dims[l.weight.channelAxis] > MAX_GPTQ_K) fallback(name, algorithm, `the reduction has more than ${MAX_GPTQ_K} inputs (its K x K inverse Hessian would take minutes and gigabytes): rounded to nearest`);
    else if (NEEDS_DATA.has(algorithm) && algorithm !== 'equalize' && !supportsInputStats(graph, l)) fallback(name, algorithm, 'its input rows cannot be gathered (Conv other than 2-D, Gemm with transA)');
    else eligible.push([name, algorithm]);
  }

  // input statistics of every eligible layer (and of the consumers equalization may touch), one float run; sequential
  // repair gathers its own before each round, so this run is needed only for the scale migrations
  const sequential = o.sequential ?? true;
  const migrating = eligible.some(([, a]) => a === 'equalize' || a === 'awq');
  let stats = new Map<string, LayerInputStats>();
  const statLayers = o.layers.filter((l) => eligible.some(([n]) => n === l.name) && supportsInputStats(graph, l));
  if (statLayers.length && (!sequential || migrating)) {
    o.onProgress?.('gathering layer inputs', 0, eligible.length);
    stats = await gatherLayerInputs(o.model, graph, statLayers, o.data, o.backend, { seed: o.seed, check, maxRows: o.maxRows, file: o.file, onProgress: (d, t) => o.onProgress?.(`gathering layer inputs: ${d}/${t} samples`, 0, eligible.length) });
  }

  // round to nearest's layer SQNR before any migration (equalize/awq report their gain against it)
  const plainRtn = new Map<string, number>();
  for (const [name, algorithm] of eligible) {
    const st = stats.get(name);
    if ((algorithm !== 'equalize' && algorithm !== 'awq') || !st) continue;
    const l = byName.get(name)!;
    const v = working(l.weight!.tensor);
    const m = weightMatrix(planned.get(name)!.weight!, v.data, v.dims);
    const meter = await layerErrorMeter(products, m.w, m.rows, m.cols, st);
    try { plainRtn.set(name, await meter.sqnrDb(dequantizeCodes(m, roundToNearest(m)))); } finally { await meter.release(); }
  }
  // scale migrations first (they change the float weights the other algorithms then round)
  const migrated = new Set<string>();
  for (const [name, algorithm] of eligible) {
    if (algorithm !== 'equalize' && algorithm !== 'awq') continue;
    if (migrated.has(name)) continue;
    check();
    const mig: Migration | undefined = findMigration(graph, byName.get(name)!, byName, tensorUses);
    if (!mig) { fallback(name, algorithm, algorithm === 'awq' ? 'no producer can absorb the scales (needs a LayerNormalization or a weight layer before it)' : 'no producer to equalize with (needs Conv/Gemm/MatMul → Relu/MaxPool → this layer, or a LayerNormalization before it)'); continue; }
    for (const c of mig.consumers) working(c.weight!.tensor);
    if (mig.absorber.kind === 'layer') { working(mig.absorber.layer.weight!.tensor); if (mig.absorber.bias) working(mig.absorber.bias); }
    else { working(mig.absorber.scale); if (mig.absorber.bias) working(mig.absorber.bias); }
    let s: Float64Array;
    let note: string;
    if (algorithm === 'awq') {
      const r = awqScales(mig, planned, values, stats);
      s = r.s;
      note = `alpha ${r.alpha.toFixed(2)}, scales absorbed by ${mig.absorber.kind === 'layer' ? `'${mig.absorber.layer.name}'` : 'the LayerNormalization'}`;
    } else {
      s = equalizationScales(mig, values, stats);
      note = mig.absorber.kind === 'layer' ? `equalized with '${mig.absorber.layer.name}'` : 'SmoothQuant migration into the LayerNormalization (alpha 0.5)';
    }
    applyMigration(mig, s, values, stats);
    for (const n of values.keys()) changed.add(n);
    for (const c of mig.consumers) {
      migrated.add(c.name);
      if (o.algorithms.get(c.name) === algorithm || c.name === name) report.set(c.name, { layer: c.name, algorithm, applied: algorithm, note, ms: 0 });
    }
  }

  // per layer: the codes (and biases created for Conv/Gemm layers that had none, filled by bias correction)
  const newBiases = new Map<string, Float32Array>();
  const plan: QuantPlan = o.plan.map((p) => ({ ...p, weight: p.weight && { ...p.weight }, activations: p.activations }));
  const planOf = new Map(plan.map((p) => [p.node, p]));
  let done = 0;
  const repairLayer = async (name: string, algorithm: QuantAlgorithm) => {
    check();
    const t0 = Date.now();
    o.onProgress?.(`${algorithm}: ${name}`, done++, eligible.length);
    const l = byName.get(name)!;
    const p = planOf.get(name)!;
    if ((algorithm === 'equalize' || algorithm === 'awq') && report.get(name)?.applied === 'rtn') return;
    const v = working(l.weight!.tensor);
    const m = weightMatrix(p.weight!, v.data, v.dims);
    const st = stats.get(name);
    const rtnCodes = roundToNearest(m);
    const rtnDeq = dequantizeCodes(m, rtnCodes);
    let codes = rtnCodes;
    let shift: Float64Array | undefined;
    let note = report.get(name)?.note;
    if (algorithm === 'gptq') codes = await gptq(m, st!, products, { check });
    else if (algorithm === 'adaround') codes = await adaround(m, st!, products, { ...o.adaround, onIteration: (i, n) => { check(); o.adaround?.onIteration?.(i, n); o.onProgress?.(`adaround: ${name} (${i}/${n})`, done - 1, eligible.length); } });
    const deq = codes === rtnCodes ? rtnDeq : dequantizeCodes(m, codes);
    if (algorithm === 'bias-correction') {
      shift = biasShift(m.w, deq, m.rows, m.cols, st!);
      const bias = biasTensor(graph, l, tensorUses);
      if (!bias) { shift = undefined; note = 'no bias to correct (a MatMul without a following Add of a constant): rounded to nearest'; }
      else {
        const b = bias.name ? working(bias.name) : undefined;
        const add = b?.data ?? new Float32Array(m.rows);
        for (let r = 0; r < m.rows; r++) add[r] = Math.fround(add[r] - (bias.factor * shift[r]));
        if (bias.name) changed.add(bias.name);
        else newBiases.set(name, add);
      }
    }
    const meter = st ? await layerErrorMeter(products, m.w, m.rows, m.cols, st) : undefined;
    let rtnSqnrDb: number | undefined, sqnrDb: number | undefined;
    try {
      rtnSqnrDb = plainRtn.get(name) ?? (meter ? await meter.sqnrDb(rtnDeq) : undefined);
      sqnrDb = meter ? await meter.sqnrDb(deq, shift ? shift.map((x) => -x) : undefined) : undefined;
    } finally { await meter?.release(); }
    if ((algorithm === 'adaround' || algorithm === 'gptq') && rtnSqnrDb !== undefined && sqnrDb !== undefined && sqnrDb < rtnSqnrDb) {
      // keep the better of the two on the calibration data
      codes = rtnCodes;
      note = `${algorithm} did not improve the layer output on the calibration data (${sqnrDb.toFixed(2)} vs ${rtnSqnrDb.toFixed(2)} dB): rounded to nearest`;
      sqnrDb = rtnSqnrDb;
    }
    if (codes !== rtnCodes) {
      // learned codes: the weight becomes its grid values (round to nearest of them gives the codes back)
      v.data.set(toStored(m, deq));
      changed.add(l.weight!.tensor);
    }
    p.weight = { ...p.weight!, params: m.params };
    report.set(name, { layer: name, algorithm, applied: codes === rtnCodes && (algorithm === 'adaround' || algorithm === 'gptq') ? 'rtn' : algorithm, rtnSqnrDb, sqnrDb, note, ms: (report.get(name)?.ms ?? 0) + Date.now() - t0, ...(st ? { rows: st.rows, inputs: st.cols } : {}) });
  };
  const rounds = sequential ? upstreamRounds(graph, eligible.filter(([, a]) => SEQUENTIAL.has(a)).map(([n]) => n)) : [];
  const inRound = new Set(rounds.flat());
  // the float reference of sequential repair: the model after the scale migrations, before any rounding
  const floatModel = rounds.length ? rebuild(o.model, values, changed, newBiases, graph) : o.model;
  for (const [name, algorithm] of eligible) if (!inRound.has(name)) await repairLayer(name, algorithm);
  const floatValues = rounds.length > 1 ? await roundsFloatValues(floatModel, graph, rounds.flat().map((n) => byName.get(n)!), o, check) : undefined;
  const quantized = new WeakMap<TensorProto, TensorProto>();
  // each round's quantized run computes only what the previous round's repairs changed
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const runs = rounds.length > 1 && cuttable(graph)
    ? new RoundRuns(graph, rounds, rounds.map((round) => [...new Set(round.map((n) => byName.get(n)!).filter((l) => supportsInputStats(graph, l)).map((l) => l.activationInputs[0]))].filter((t) => !inputNames.has(t))))
    : undefined;
  for (const [r, round] of rounds.entries()) {
    check();
    const current = rebuild(o.model, values, changed, newBiases, graph);
    const quantModel = quantizedWeightsModel(current, plan, new Graph(current, o.file), quantized);
    o.onProgress?.(`gathering layer inputs (round ${r + 1} of ${rounds.length})`, done, eligible.length);
    const paired = await gatherPairedInputs(floatModel, quantModel, graph, round.map((n) => byName.get(n)!), o.data, o.backend, { seed: o.seed, check, maxRows: o.maxRows, file: o.file, threads: o.threads, floatValues, quantized: runs && (() => runs.open(r, quantModel, o.backend, { threads: o.threads })) });
    for (const [n, st] of paired) stats.set(n, st);
    for (const n of round) await repairLayer(n, o.algorithms.get(n)!);
    // a round's statistics (K x K matrices, hundreds of MB on wide layers) are not read again
    for (const n of round) stats.delete(n);
  }
  o.onProgress?.('repaired', eligible.length, eligible.length);
  const model = rebuild(o.model, values, changed, newBiases, graph);
  const order = new Map(o.layers.map((l, i) => [l.name, i]));
  return { model, plan, layers: [...report.values()].sort((a, b) => order.get(a.layer)! - order.get(b.layer)!) };
}

/** Sequential rounds share one float run when its values (every round's layer inputs over the data) fit this. */
const ROUNDS_FLOAT_BYTES = 512 * 2 ** 20;

/** The float model's inputs of every layer of the sequential rounds, gathered once (undefined when over ROUNDS_FLOAT_BYTES: each round then runs the float prefix itself). */
async function roundsFloatValues(floatModel: ModelProto, graph: Graph, layers: readonly QuantLayer[], o: RepairOptions, check: () => void): Promise<FloatValues | undefined> {
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const tensors = [...new Set(layers.filter((l) => supportsInputStats(graph, l)).map((l) => l.activationInputs[0]))].filter((t) => !inputNames.has(t));
  if (!tensors.length) return undefined;
  const batches = await gatherFloatValues(floatModel, tensors, o.data, o.backend, { check, file: o.file, threads: o.threads, maxBytes: ROUNDS_FLOAT_BYTES });
  return batches ? { tensors: new Set(tensors), batches } : undefined;
}

/** The model with every float Constant node of rank >= 1 turned into an initializer of the same name (same function). */
function constantsToInitializers(model: ModelProto): ModelProto {
  const g = model.graph!;
  const moved: TensorProto[] = [];
  const node = (g.node ?? []).filter((n) => {
    if (n.op_type !== 'Constant' || (n.domain ?? '') !== '' || n.output?.length !== 1) return true;
    const t = constantNodeTensor(n);
    if (!t || t.data_type !== DataType.FLOAT || !(t.dims ?? []).length) return true;
    moved.push({ ...t, name: n.output[0] });
    return false;
  });
  return moved.length ? { ...model, graph: { ...g, node, initializer: [...(g.initializer ?? []), ...moved] } } : model;
}

/** Where a layer's per-output-channel bias lives: its own input (Conv, Gemm), a following Add (MatMul), or none yet (name undefined: one is added). */
function biasTensor(graph: Graph, l: QuantLayer, tensorUses: (t: string) => number): { name?: string; factor: number } | undefined {
  const node = graph.byName.get(l.name)!;
  const rows = l.weight!.dims[l.weight!.channelAxis];
  const ok = (t: string | undefined) => !!t && graph.initializers.has(t) && tensorUses(t) === 1 && graph.constantValue(t)!.type === DataType.FLOAT && graph.constantValue(t)!.dims.reduce((a, b) => a * b, 1) === rows;
  if (l.kind === 'conv') return node.inputs[2] ? (ok(node.inputs[2]) ? { name: node.inputs[2], factor: 1 } : undefined) : { factor: 1 };
  if (l.kind === 'gemm') {
    const alpha = attrFloat(node.proto, 'alpha', 1), beta = attrFloat(node.proto, 'beta', 1);
    if (beta === 0) return undefined;
    return node.inputs[2] ? (ok(node.inputs[2]) ? { name: node.inputs[2], factor: alpha / beta } : undefined) : { factor: alpha / beta };
  }
  const next = graph.consumers.get(l.outputs[0]) ?? [];
  if (next.length === 1 && next[0].opType === 'Add') {
    const other = next[0].inputs.find((i) => i !== l.outputs[0]);
    if (ok(other)) return { name: other, factor: 1 };
  }
  return undefined;
}

/** The model with changed initializers replaced (same names) and new bias inputs added. */
function rebuild(model: ModelProto, values: Map<string, { data: Float32Array; dims: number[] }>, changed: Set<string>, newBiases: Map<string, Float32Array>, graph: Graph): ModelProto {
  const g = model.graph!;
  const initializer: TensorProto[] = (g.initializer ?? []).map((t) => (changed.has(t.name ?? '') ? tensorToProto(t.name!, { type: DataType.FLOAT, ...values.get(t.name!)! }) : t));
  const names = new Set(initializer.map((t) => t.name));
  let node = g.node ?? [];
  if (newBiases.size) {
    node = node.map((n) => {
      const b = newBiases.get(n.name ?? '');
      if (!b) return n;
      let name = `${n.name}_bias_corrected`;
      while (names.has(name) || graph.producer.has(name)) name += '_';
      names.add(name);
      initializer.push(tensorToProto(name, { type: DataType.FLOAT, dims: [b.length], data: b }));
      return { ...n, input: [...(n.input ?? []).slice(0, 2), name] };
    });
  }
  return { ...model, graph: { ...g, node, initializer } };
}
