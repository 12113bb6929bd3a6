/** Builds the whole training step as one ONNX graph: forward with fake quantization, loss, backward, optimizer update. */
import { QuantLensError } from '../errors';
import { GraphBuilder } from '../onnx/builder';
import { Graph } from '../onnx/graph';
import { DataType, ModelProto, NodeProto, TensorProto } from '../onnx/proto';
import { emitBackward, FwdNode, GradRule, prepareForward, requiresGrad } from './autodiff';
import { ClipBefore, emitFakeQuant, FakeQuantSpec, qRange, scaleDims, scaleInputName } from './fake-quant';
import { GradContext } from './grad-context';
import { emitLoss, LossSpec } from './losses';
import { emitFlat, emitGradNorm, emitOptimizer, OPT_CHUNK_VALUES, OPT_INPUTS, OptimizerEntry, optimizerGroups, OptimizerSpec } from './optimizer';
import { MicroBatchLoop } from './micro-batch';
import { backwardScaleInputName, emitFrozenMatMul, frozenMatMulApplies } from './frozen-matmul';
import { ProbeResult } from './shape-probe';

/** Options of buildTrainStep. */
export interface TrainStepOptions {
  /** The forward FP32 model (opset >= 13, BatchNormalization folded where possible). */
  model: ModelProto;
  /** Shapes and integer values of every tensor at the training batch size. */
  probe: ProbeResult;
  /** Trainable tensors: initializers or Constant node outputs. */
  params: string[];
  fakeQuant: FakeQuantSpec[];
  loss: LossSpec;
  /** The tensor trained as logits (the input of a final Softmax, or the output itself). */
  logits: string;
  optimizer: OptimizerSpec;
  /** Opset of the training graph (at least 17). */
  opset?: number;
  /**
   * Micro-batches per step (default 1): the probe's batch is one micro-batch; the step takes `microBatches` times
   * as many samples, runs forward and backward on each micro-batch inside an ONNX Loop and averages the gradients
   * (the big-batch gradient), then updates once. For models with a fixed batch dim, and to bound activation memory.
   */
  microBatches?: number;
  /** Fake-quantized MatMuls on frozen weights (not in `params`) as one fused node (frozen-matmul.ts; default true). */
  fuseFrozenMatMul?: boolean;
  /** Bytes of the weight row blocks a fused frozen MatMul quantizes at a time (default FROZEN_BLOCK_BYTES). */
  frozenBlockBytes?: number;
  /** A Clip's gradient mask merged into the next activation fake quantization's (default true; false for comparisons). */
  fuseClipMask?: boolean;
  /**
   * The optimizer left out (split-optimizer.ts): the graph outputs each trained tensor's gradient and the global norm
   * instead of new values and state, and takes no optimizer state (default false).
   */
  separateOptimizer?: boolean;
  file?: string;
}

/** The built step and the names of its inputs/outputs. */
export interface TrainStepGraph {
  model: ModelProto;
  /** Graph inputs taking the samples of each model input (in model input order), [batch, ...]. */
  dataInputs: string[];
  /** Samples per step (micro-batch size times micro-batches). */
  batch: number;
  labels?: string;
  teacher?: string;
  params: string[];
  newParams: string[];
  state: string[];
  newState: string[];
  /** Scale inputs of every fake-quant spec (in spec order) and, for learned ones, their new values. */
  scales: string[];
  newScales: (string | undefined)[];
  loss: string;
  logits: string;
  gradNorm: string;
  /** Shapes of params, state and scales (for zero-initialising state). */
  shapes: Map<string, number[]>;
  /** Session configuration the step graph needs (`STEP_SESSION_CONFIG`). */
  sessionConfig: Record<string, string>;
  /** Inputs to feed a copy of a scale input's value (the backward scale of fused frozen MatMuls): `input` gets the value of `of`. */
  scaleCopies: { input: string; of: string }[];
  /**
   * With `separateOptimizer`: what the optimizer updates (params, then learned scales), each entry's `grad` naming
   * its gradient output. newParams, state, newState are then empty and newScales undefined.
   */
  gradients?: OptimizerEntry[];
}

/**
 * Session configuration of a training step: fake quantization runs as QuantizeLinear + DequantizeLinear pairs, which
 * ONNX Runtime must not fuse into integer kernels (they saturate on CPUs without VNNI and would change the numerics).
 */
export const STEP_SESSION_CONFIG: Record<string, string> = { 'session.disable_quant_qdq': '1' };

/** Input names of the labels (one-hot) and teacher logits. */
export const STEP_INPUTS = { labels: 'train__labels_onehot', teacher: 'train__teacher_logits' } as const;

/** Builds the training-step model. */
export function buildTrainStep(o: TrainStepOptions): TrainStepGraph {
  const file = o.file ?? '<model>';
  const graph = new Graph(o.model, file);
  const b = new GraphBuilder('quantlens_train_step');
  const dtype = DataType.FLOAT;
  const shapes = new Map(o.probe.shapes);
  const constInts = (t: string) => o.probe.ints.get(t) ?? intsOf(graph, t);
  const paramSet = new Set(o.params);
  for (const p of o.params) {
    if (!graph.initializers.has(p) && !graph.constantNodes.has(p)) throw new QuantLensError('train-param', `trainable tensor '${p}' is neither an initializer nor a Constant node output`, file);
  }
  // Reserve the names of the forward graph.
  for (const n of graph.nodes) for (const t of [...n.inputs, ...n.outputs, n.name]) if (t) b.fresh(t);
  const k = Math.max(1, Math.floor(o.microBatches ?? 1));
  const acc = k > 1 ? new MicroBatchLoop(b, k) : undefined;
  const dataInputs = graph.inputs.map((i) => (acc ? acc.perSampleInput(i.name, i.elemType, shapes.get(i.name)!) : b.input(i.name, i.elemType, shapes.get(i.name))));
  for (const p of o.params) b.input(p, dtype, shapes.get(p));
  for (const t of o.model.graph!.initializer ?? []) if (!paramSet.has(t.name ?? '')) b.initializerProto(t);
  const ctx = new GradContext(b, dtype, shapes, new Set(), constInts, file);
  ctx.microBatches = k;
  const scaleInputs = o.fakeQuant.map((s) => {
    const name = scaleInputName(s);
    b.input(name, dtype, scaleDims(shapes.get(s.tensor)!, s.granularity));
    shapes.set(name, scaleDims(shapes.get(s.tensor)!, s.granularity));
    return name;
  });
  const learnedScales = o.fakeQuant.filter((s) => s.learnScale).map(scaleInputName);
  const req0 = requiresGrad(graph.nodes, [...o.params, ...learnedScales]);
  // With micro-batches, trained weights are fake-quantized once per step, before the Loop (they do not change
  // between micro-batches); the Loop sums the gradients of their quantized values, and their fake-quant backward
  // (linear in the incoming gradient) runs once after it.
  const hoisted = new Map<number, { y: string; node: FwdNode; rule: GradRule }>();
  if (acc) o.fakeQuant.forEach((spec, i) => { if (spec.role === 'weight' && paramSet.has(spec.tensor)) hoisted.set(i, emitFakeQuant(ctx, spec, spec.tensor, scaleInputs[i], i, { qdq: true, recompute: true })); });
  acc?.begin();
  const scaleCopies: { input: string; of: string }[] = [];
  const frozen = o.fuseFrozenMatMul === false ? undefined : {
    blockBytes: o.frozenBlockBytes,
    specs: new Set(o.fakeQuant.flatMap((s, i) => (s.role === 'weight' && !paramSet.has(s.tensor) && graph.initializers.has(s.tensor) ? [i] : []))),
    bwScale: (i: number) => {
      const name = backwardScaleInputName(o.fakeQuant[i]);
      b.input(name, dtype, shapes.get(scaleInputs[i]));
      shapes.set(name, shapes.get(scaleInputs[i])!);
      scaleCopies.push({ input: name, of: scaleInputs[i] });
      return name;
    },
  };
  const { fwd, custom } = emitForward(b, ctx, graph, o.fakeQuant, scaleInputs, paramSet, req0, { qdq: true, pre: new Map([...hoisted].map(([i, h]) => [i, h.y])), frozen, fuseClip: o.fuseClipMask !== false });
  // Loss and its gradient.
  const logitDims = shapes.get(o.logits);
  if (!logitDims) throw new QuantLensError('train-logits', `tensor '${o.logits}' is not produced by the model`, file);
  const stepInput = (name: string) => (acc ? acc.perSampleInput(name, dtype, logitDims) : b.input(name, dtype, logitDims));
  const labels = o.loss.crossEntropy > 0 ? stepInput(STEP_INPUTS.labels) : undefined;
  const teacher = o.loss.distill > 0 ? stepInput(STEP_INPUTS.teacher) : undefined;
  const { loss: microLoss, grad } = emitLoss(ctx, o.loss, o.logits, logitDims, acc?.local(labels) ?? labels, acc?.local(teacher) ?? teacher);
  // Backward.
  const wrt = [...o.params, ...learnedScales];
  const hoistedScales = new Set([...hoisted.keys()].map((i) => scaleInputs[i]));
  const inner = [...wrt.filter((w) => !hoistedScales.has(w)), ...[...hoisted.values()].map((h) => h.y)];
  const grads = emitBackward({ b, nodes: fwd, wrt: inner, seeds: new Map([[o.logits, acc ? acc.seed(ctx, grad) : grad]]), shapes, dtype, constInts, custom, file });
  let loss = microLoss, logits = o.logits;
  if (acc) {
    const r = acc.end(ctx, microLoss, o.logits, logitDims, inner.filter((w) => grads.get(w)).map((w) => [w, grads.get(w)!, shapes.get(w)!]));
    for (const [w, g] of r.grads) grads.set(w, g);
    loss = r.loss;
    logits = r.logits;
    for (const [i, h] of hoisted) {
      const gy = grads.get(h.y);
      if (!gy) continue;
      const spec = o.fakeQuant[i];
      const scaleWrt = spec.learnScale ? [scaleInputs[i]] : [];
      const g = emitBackward({ b, nodes: [h.node], wrt: [spec.tensor, ...scaleWrt], seeds: new Map([[h.y, gy]]), shapes, dtype, constInts, custom: new Map([[h.node.name, h.rule]]), file });
      const gw = g.get(spec.tensor), direct = grads.get(spec.tensor);
      if (gw) grads.set(spec.tensor, direct ? b.node('Add', [direct, gw]) : gw);
      for (const sc of scaleWrt) grads.set(sc, g.get(sc));
    }
  }
  for (const w of wrt) if (!grads.get(w)) grads.set(w, ctx.zeros(shapes.get(w)!));
  // Optimizer.
  // Learned scales stay positive, and inside the range of a Clip they quantize (see clipScaleCap).
  const specOf = new Map(o.fakeQuant.filter((s) => s.learnScale).map((s) => [scaleInputName(s), s]));
  const entries = wrt.map((w) => {
    const spec = specOf.get(w);
    return { name: w, dims: shapes.get(w)!, grad: grads.get(w)!, decay: !spec && shapes.get(w)!.length > 1, relative: !!spec, min: spec ? 1e-8 : undefined, max: spec ? clipScaleCap(graph, spec) : undefined };
  });
  const out = (t: string, dims: number[]) => { b.output(t, dtype, dims); };
  const common = { dataInputs, batch: logitDims[0] * k, labels, teacher, params: o.params, scales: scaleInputs, loss, shapes, sessionConfig: STEP_SESSION_CONFIG, scaleCopies };
  if (o.separateOptimizer) {
    // no optimizer: the global gradient norm (the fused update's nodes) and each entry's gradient (through Identity
    // where a tensor would be output twice)
    const gradNorm = emitGradNorm(ctx, optimizerGroups(entries, OPT_CHUNK_VALUES).map((g) => emitFlat(ctx, g.entries.map((i) => entries[i].grad))));
    const logitsOut = outputLossLogitsNorm(b, out, loss, logits, [logitDims[0] * k, ...logitDims.slice(1)], gradNorm);
    const seen = new Set<string>([loss, logitsOut, gradNorm]);
    const gradients = entries.map((e) => {
      const grad = seen.has(e.grad) ? b.node('Identity', [e.grad]) : e.grad;
      seen.add(grad);
      out(grad, e.dims);
      return { ...e, grad };
    });
    return { ...common, model: stepModel(b, o, graph), newParams: [], state: [], newState: [], newScales: scaleInputs.map(() => undefined), logits: logitsOut, gradNorm, gradients };
  }
  b.input(OPT_INPUTS.lr, dtype, []);
  if (o.optimizer.kind !== 'sgd') { b.input(OPT_INPUTS.bc1, dtype, []); b.input(OPT_INPUTS.bc2, dtype, []); }
  const upd = emitOptimizer(ctx, o.optimizer, entries);
  const state = upd.state.map((st) => { shapes.set(st.name, st.dims); return st.name; });
  const newParams = upd.newParams.slice(0, o.params.length);
  const newScalesList = upd.newParams.slice(o.params.length);
  const newState = upd.newState;
  const logitsOut = outputLossLogitsNorm(b, out, loss, logits, [logitDims[0] * k, ...logitDims.slice(1)], upd.gradNorm);
  newParams.forEach((t, i) => out(t, shapes.get(o.params[i])!));
  newState.forEach((t, i) => out(t, shapes.get(state[i])!));
  newScalesList.forEach((t, i) => out(t, shapes.get(learnedScales[i])!));
  const newScales = o.fakeQuant.map((s) => (s.learnScale ? newScalesList[learnedScales.indexOf(scaleInputName(s))] : undefined));
  return { ...common, model: stepModel(b, o, graph), newParams, state, newState, newScales, logits: logitsOut, gradNorm: upd.gradNorm };
}

/** Outputs the loss, the logits (through Identity: a graph output must not be a graph input or repeated) and the gradient norm; returns the logits output. */
function outputLossLogitsNorm(b: GraphBuilder, out: (t: string, dims: number[]) => void, loss: string, logits: string, logitDims: number[], gradNorm: string): string {
  out(loss, []);
  const logitsOut = b.node('Identity', [logits]);
  out(logitsOut, logitDims);
  out(gradNorm, []);
  return logitsOut;
}

/** The step model at opset 17 or the source's (custom domains kept), without value_info. */
function stepModel(b: GraphBuilder, o: TrainStepOptions, graph: Graph): ModelProto {
  const opset = Math.max(o.opset ?? 17, graph.opset, 17);
  const model = b.model(opset, (o.model.opset_import ?? []).filter((x) => x.domain && x.domain !== 'ai.onnx').map((x) => ({ domain: x.domain!, version: Number(x.version) })));
  model.graph!.value_info = [];
  return model;
}

/**
 * Emits the forward nodes with fake quantization spliced in before the nodes that read quantized tensors;
 * `qdq`: 8-bit points as QuantizeLinear + DequantizeLinear (the session then needs STEP_SESSION_CONFIG); `pre`: points
 * already emitted (spec index -> quantized tensor); `frozen`: weight specs of frozen weights whose MatMul becomes the
 * fused node of frozen-matmul.ts where it applies (`bwScale` declares its backward scale input); `fuseClip` (with
 * `qdq`): a Clip whose output only this fake quantization reads leaves the differentiated list, the fake-quant node
 * taking its input and applying both masks as one (clipBefore).
 */
export function emitForward(b: GraphBuilder, ctx: GradContext, graph: Graph, specs: FakeQuantSpec[], scaleInputs: string[], skipConstants: Set<string>, req: Set<string>, opts: { qdq?: boolean; pre?: Map<number, string>; frozen?: { specs: Set<number>; bwScale: (spec: number) => string; blockBytes?: number }; fuseClip?: boolean } = {}): { fwd: FwdNode[]; custom: Map<string, GradRule> } {
  const uses = new Map<string, number>();
  specs.forEach((s, k) => s.uses.forEach(([node, idx]) => uses.set(`${node}\u0000${idx}`, k)));
  const fqOut = new Map<number, string>(opts.pre ?? []);
  const fwd: FwdNode[] = [];
  const custom = new Map<string, GradRule>();
  for (const n of swapReluMaxPool(prepareForward(graph.nodes, req, ctx.shapes), graph, uses, ctx, req)) {
    if (n.opType === 'Constant' && skipConstants.has(n.outputs[0])) continue;
    const inputs = n.inputs.slice();
    const wk = n.opType === 'MatMul' ? uses.get(`${n.name}\u00001`) : undefined;
    const fused = wk !== undefined && !!opts.frozen?.specs.has(wk) && frozenMatMulApplies(ctx, specs[wk], n, 1) ? wk : undefined;
    n.inputs.forEach((t, idx) => {
      const k = uses.get(`${n.name}\u0000${idx}`);
      if (k === undefined || k === fused) return;
      if (!fqOut.has(k)) {
        const clip = opts.qdq && opts.fuseClip ? clipBefore(graph, fwd, uses, k, t) : undefined;
        const fq = emitFakeQuant(ctx, specs[k], t, scaleInputs[k], k, { qdq: opts.qdq, clip });
        // Merged: the Clip's own rule must not run (its mask is in the fake-quant node's).
        if (clip && fq.node.inputs[0] === clip.input) fwd.splice(fwd.findIndex((f) => f.outputs[0] === t), 1);
        fqOut.set(k, fq.y);
        fwd.push(fq.node);
        custom.set(fq.node.name, fq.rule);
      }
      inputs[idx] = fqOut.get(k)!;
    });
    if (fused !== undefined) {
      const f = emitFrozenMatMul(ctx, specs[fused], { ...n, inputs }, scaleInputs[fused], opts.frozen!.bwScale(fused), fused, opts.frozen!.blockBytes);
      fwd.push(f.node);
      custom.set(f.node.name, f.rule);
      continue;
    }
    const proto: NodeProto = { ...n.proto, input: inputs, output: n.outputs };
    b.nodes.push(proto);
    fwd.push({ ...n, inputs, proto });
  }
  return { fwd, custom };
}

/**
 * The Clip with constant scalar bounds producing `t` when every reader of `t` reads the fake quantization `k`
 * instead (and `t` is no graph output): its mask can merge into the fake quantization's (fake-quant.ts clipFuses).
 * mobilenet_v2's ReLU6s before their activations' fake quantization: GreaterOrEqual, LessOrEqual, And, Cast and Mul
 * over each activation tensor saved in the backward.
 */
function clipBefore(graph: Graph, fwd: FwdNode[], uses: Map<string, number>, k: number, t: string): ClipBefore | undefined {
  const clip = graph.producer.get(t);
  // The Clip as emitted (its input may itself read a fake quantization).
  const emitted = fwd.find((f) => f.opType === 'Clip' && f.outputs[0] === t);
  if (clip?.opType !== 'Clip' || clip.outputs.length !== 1 || !emitted) return undefined;
  if (graph.outputs.some((o) => o.name === t)) return undefined;
  for (const r of graph.consumers.get(t) ?? []) r.inputs.forEach((inp, idx) => { if (inp === t && uses.get(`${r.name}\u0000${idx}`) !== k) k = -1; });
  if (k < 0) return undefined;
  const bound = (name: string | undefined): number | null | undefined => {
    if (!name) return undefined;
    const v = graph.constantValue(name);
    return v && v.data.length === 1 && (v.type === DataType.FLOAT) ? Number(v.data[0]) : null;
  };
  const lo = bound(clip.inputs[1]), hi = bound(clip.inputs[2]);
  if (lo === null || hi === null) return undefined;
  return { input: emitted.inputs[0], lo, hi };
}

/**
 * Relu -> MaxPool (the Relu output read by nothing else, not fake-quantized, windows tiling so MaxPool has no
 * indices output) becomes MaxPool -> Relu: the same values bit for bit (Relu is monotone), a quarter of the Relu
 * work forward and backward, and the same gradient (where the pooled value is <= 0 the Relu mask zeroes it).
 */
function swapReluMaxPool(nodes: FwdNode[], graph: Graph, uses: Map<string, number>, ctx: GradContext, req: Set<string>): FwdNode[] {
  const readers = new Map<string, number>();
  for (const n of nodes) for (const t of n.inputs) if (t) readers.set(t, (readers.get(t) ?? 0) + 1);
  for (const o of graph.outputs) readers.set(o.name, (readers.get(o.name) ?? 0) + 1);
  const out = nodes.slice();
  for (let i = 0; i < out.length; i++) {
    const pool = out[i];
    if (pool.opType !== 'MaxPool' || pool.outputs.length !== 1 || uses.has(`${pool.name}\u0000${0}`)) continue;
    const r = pool.inputs[0];
    const j = out.findIndex((n) => n.opType === 'Relu' && n.outputs[0] === r);
    if (j < 0 || readers.get(r) !== 1 || uses.has(`${out[j].name}\u0000${0}`)) continue;
    const relu = out[j];
    const pooled = `${pool.outputs[0]}__before_relu`;
    ctx.setShape(pooled, ctx.shape(pool.outputs[0]));
    if (req.has(pool.outputs[0])) req.add(pooled);
    out[j] = { ...pool, inputs: [relu.inputs[0]], outputs: [pooled], proto: { ...pool.proto, input: [relu.inputs[0]], output: [pooled] } };
    out[i] = { ...relu, inputs: [pooled], outputs: pool.outputs, proto: { ...relu.proto, input: [pooled], output: pool.outputs } };
  }
  return out;
}

/** A forward-only model with fake quantization (scales as initializers), fetching `fetch` (the logits). */
export function buildQuantForward(model: ModelProto, probe: ProbeResult, specs: FakeQuantSpec[], fetch: string, file = '<model>'): ModelProto {
  const graph = new Graph(model, file);
  const b = new GraphBuilder('quantlens_fake_quant');
  const shapes = new Map(probe.shapes);
  for (const n of graph.nodes) for (const t of [...n.inputs, ...n.outputs, n.name]) if (t) b.fresh(t);
  for (const i of graph.inputs) b.input(i.name, i.elemType, shapes.get(i.name));
  for (const t of model.graph!.initializer ?? []) b.initializerProto(t);
  const ctx = new GradContext(b, DataType.FLOAT, shapes, new Set(), (t) => probe.ints.get(t) ?? intsOf(graph, t), file);
  const scaleInputs = specs.map((s) => {
    const dims = scaleDims(shapes.get(s.tensor)!, s.granularity);
    const name = b.initializer(scaleInputName(s), { type: DataType.FLOAT, dims, data: s.scale });
    return name;
  });
  emitForward(b, ctx, graph, specs, scaleInputs, new Set(), new Set());
  b.output(b.node('Identity', [fetch]), DataType.FLOAT, shapes.get(fetch));
  return b.model(Math.max(17, graph.opset), (model.opset_import ?? []).filter((x) => x.domain && x.domain !== 'ai.onnx').map((x) => ({ domain: x.domain!, version: Number(x.version) })));
}

/**
 * The largest scale of an activation produced by a Clip with constant bounds whose quantization grid stays inside
 * the Clip's range (e.g. ReLU6: 6 / 255 for uint8): a wider grid only wastes levels on values that never occur, and
 * ONNX Runtime 1.30's optimizer fails to load a QDQ model where such a Clip stays beside a depthwise Conv
 * ("two nodes with same node name"), which happens once the learned range passes the Clip's.
 */
function clipScaleCap(graph: Graph, spec: FakeQuantSpec): number | undefined {
  if (spec.role !== 'activation' || spec.granularity.kind !== 'tensor') return undefined;
  const clip = graph.producer.get(spec.tensor);
  if (clip?.opType !== 'Clip') return undefined;
  const bound = (t: string | undefined) => { const v = t ? graph.constantValue(t) : undefined; return v && v.data.length === 1 ? Number(v.data[0]) : undefined; };
  const lo = bound(clip.inputs[1]), hi = bound(clip.inputs[2]);
  const [qmin, qmax] = qRange(spec.bits, spec.signed);
  const z = spec.zeroPoint[0];
  const caps: number[] = [];
  if (hi !== undefined && hi > 0 && qmax > z) caps.push(hi / (qmax - z));
  if (lo !== undefined && lo < 0 && qmin < z) caps.push(lo / (qmin - z));
  return caps.length ? Math.min(...caps) : undefined;
}

function intsOf(graph: Graph, t: string): number[] | undefined {
  const v = graph.constantValue(t);
  if (!v || (v.type !== DataType.INT64 && v.type !== DataType.INT32)) return undefined;
  return Array.from(v.data as ArrayLike<number | bigint>, Number);
}

/** Copies of `model` with trained values written back into initializers / Constant nodes. */
export function withParams(model: ModelProto, values: Map<string, Float32Array>): ModelProto {
  const g = model.graph!;
  const replace = (t: TensorProto): TensorProto => {
    const v = values.get(t.name ?? '');
    if (!v) return t;
    return { name: t.name, dims: t.dims, data_type: DataType.FLOAT, raw_data: new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)) };
  };
  const node = (g.node ?? []).map((n) => {
    if (n.op_type !== 'Constant' || !values.has(n.output?.[0] ?? '')) return n;
    const t = n.attribute?.find((a) => a.name === 'value')?.t;
    if (!t) return n;
    return { ...n, attribute: [{ name: 'value', type: 4, t: replace({ ...t, name: n.output![0] }) }] };
  });
  return { ...model, graph: { ...g, node, initializer: (g.initializer ?? []).map(replace) } };
}
