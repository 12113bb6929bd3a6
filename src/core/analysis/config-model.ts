/**
 * One model that runs every mixed-precision configuration: each layer's weight is a graph input (fed
 * fake-quantized from JavaScript) and each layer's activation input passes through a fake quantizer whose
 * scale, bounds and rounding constant are graph inputs. So all-but-one, all-quantized and every
 * Pareto point of the recommendation share one session; only the feeds change.
 *
 * The fake quantizer is built from ops every opset since 9 has: t = x / s; u = min(max(t, qmin − zp), qmax − zp)
 * (one Clip from opset 11); r = (u + m) − m with m = 1.5·2^23 (float32 round half to even, exact for |u| < 2^22);
 * y = r · s. Clamping before rounding gives the same values as (min(max(round(t) + zp, qmin), qmax) − zp) · s,
 * QuantizeLinear → DequantizeLinear, because the bounds are integers. m is fed too: an activation left float gets
 * s = 1, bounds ±∞ and m = 0, which gives x back exactly, so no switch (Where) is needed: 5 elementwise ops over the
 * activation (was 7, a Where and separate Max and Min).
 */
import { QuantLensError } from '../errors';
import { Graph } from '../onnx/graph';
import { makeValueInfo } from '../onnx/builder';
import { DataType, ModelProto, NodeProto } from '../onnx/proto';
import { Tensor } from '../onnx/tensor-data';
import { QuantLayer } from '../onnx/layer';
import { QuantParams } from '../quant/qparams';
import { namesRead } from '../onnx/names-read';

/** 1.5 · 2^23: adding and subtracting it rounds a float32 to the nearest integer, ties to even. */
export const ROUND_MAGIC = 12582912;

/** How one activation input of one layer is treated in a configuration. */
export type ActivationSetting = { kind: 'float' } | { kind: 'int'; params: QuantParams } | { kind: 'half' };

/** One configuration: per layer name, the weight values to feed and the activation settings (absent = float). */
export interface Configuration {
  weights: Map<string, Float32Array>;
  activations: Map<string, ActivationSetting[]>;
}

/** The configurable model and the names of its control inputs. */
export interface ConfigurableModel {
  model: ModelProto;
  /** Per layer: weight input name (if any) and per activation input the control input names. */
  controls: Map<string, { weight?: string; weightDims?: number[]; acts: { scale: string; lo: string; hi: string; magic: string; half?: string }[] }>;
}

const f = (name: string, opType: string, inputs: string[], output: string, attribute: NodeProto['attribute'] = []): NodeProto => ({ name, op_type: opType, input: inputs, output: [output], attribute, domain: '' });

/** Builds the configurable model for `layers`; `halfActivations` adds a float16 rounding path. */
export function buildConfigurableModel(graph: Graph, layers: readonly QuantLayer[], opts: { halfActivations?: boolean } = {}): ConfigurableModel {
  if (graph.opset < 9) throw new QuantLensError('opset-too-old', `opset ${graph.opset} is too old for the analysis (needs 9 or later); upgrade the model's opset first`, graph.file);
  const byNode = new Map(layers.map((l, k) => [l.name, { layer: l, k }]));
  const extraInputs = [] as ReturnType<typeof makeValueInfo>[];
  const controls: ConfigurableModel['controls'] = new Map();
  const clip = graph.opset >= 11;
  const nodes: NodeProto[] = [];
  for (const n of graph.nodes) {
    const hit = byNode.get(n.name);
    if (!hit) { nodes.push(n.proto); continue; }
    const { layer, k } = hit;
    const ctl: ConfigurableModel['controls'] extends Map<string, infer V> ? V : never = { acts: [] };
    let inputs = n.inputs.slice();
    if (layer.weight) {
      const w = `ql_w_${k}`;
      extraInputs.push(makeValueInfo(w, DataType.FLOAT, layer.weight.dims));
      inputs = inputs.map((i) => (i === layer.weight!.tensor ? w : i));
      ctl.weight = w;
      ctl.weightDims = layer.weight.dims;
    }
    layer.activationInputs.forEach((x, j) => {
      const p = `ql_${k}_${j}`;
      // lo and hi are the integer bounds less the zero point (qmin − zp, qmax − zp)
      const names = { scale: `${p}_s`, lo: `${p}_lo`, hi: `${p}_hi`, magic: `${p}_m`, half: opts.halfActivations ? `${p}_h` : undefined };
      for (const s of [names.scale, names.lo, names.hi, names.magic]) extraInputs.push(makeValueInfo(s, DataType.FLOAT, []));
      if (names.half) extraInputs.push(makeValueInfo(names.half, DataType.BOOL, []));
      const t = `${p}_t`, c = `${p}_c`, a = `${p}_a`, r = `${p}_r`, y = `${p}_y`;
      nodes.push(f(`${p}_div`, 'Div', [x, names.scale], t));
      if (clip) nodes.push(f(`${p}_clip`, 'Clip', [t, names.lo, names.hi], c));
      else nodes.push(f(`${p}_max`, 'Max', [t, names.lo], `${p}_c1`), f(`${p}_min`, 'Min', [`${p}_c1`, names.hi], c));
      nodes.push(
        f(`${p}_addm`, 'Add', [c, names.magic], a),
        f(`${p}_subm`, 'Sub', [a, names.magic], r),
        f(`${p}_mul`, 'Mul', [r, names.scale], y),
      );
      let out = y;
      if (names.half) {
        const h16 = `${p}_h16`, h32 = `${p}_h32`;
        out = `${p}_out`;
        nodes.push(
          f(`${p}_c16`, 'Cast', [x], h16, [{ name: 'to', type: 2, i: DataType.FLOAT16 }]),
          f(`${p}_c32`, 'Cast', [h16], h32, [{ name: 'to', type: 2, i: DataType.FLOAT }]),
          f(`${p}_whalf`, 'Where', [names.half, h32, y], out),
        );
      }
      inputs = inputs.map((i) => (i === x ? out : i));
      ctl.acts.push(names as typeof ctl.acts[number]);
    });
    controls.set(layer.name, ctl);
    nodes.push({ ...n.proto, input: inputs });
  }
  const g = graph.model.graph!;
  const read = namesRead(nodes, (g.output ?? []).map((o) => o.name ?? ''));
  const model: ModelProto = {
    ...graph.model,
    graph: {
      ...g,
      node: nodes,
      // the weights now fed as ql_w_* are left out (unless another node reads them): ViT-B/16's 344 MB were encoded,
      // copied by ONNX Runtime and dropped there, for each session of this model
      initializer: (g.initializer ?? []).filter((t) => read.has(t.name ?? '')),
      input: [...(g.input ?? []), ...extraInputs],
    },
  };
  return { model, controls };
}

const scalarF = (v: number): Tensor => ({ type: DataType.FLOAT, dims: [], data: Float32Array.of(v) });
const scalarB = (v: boolean): Tensor => ({ type: DataType.BOOL, dims: [], data: Uint8Array.of(v ? 1 : 0) });

/**
 * The control feeds of a configuration; `floatWeights` gives each layer's float weight for layers the
 * configuration leaves out.
 */
export function configurationFeeds(cm: ConfigurableModel, config: Configuration, floatWeights: ReadonlyMap<string, Float32Array>): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const [name, ctl] of cm.controls) {
    if (ctl.weight) {
      const w = config.weights.get(name) ?? floatWeights.get(name);
      if (!w) throw new Error(`no weight value for layer '${name}'`);
      feeds[ctl.weight] = { type: DataType.FLOAT, dims: ctl.weightDims!, data: w };
    }
    const acts = config.activations.get(name);
    ctl.acts.forEach((names, j) => {
      const s = acts?.[j] ?? { kind: 'float' };
      if (s.kind === 'int') {
        if (s.params.axis !== undefined) throw new Error('activation quantization is per tensor');
        feeds[names.scale] = scalarF(s.params.scale[0]);
        feeds[names.lo] = scalarF(s.params.qmin - s.params.zeroPoint[0]);
        feeds[names.hi] = scalarF(s.params.qmax - s.params.zeroPoint[0]);
        feeds[names.magic] = scalarF(ROUND_MAGIC);
      } else {
        // x / 1, clipped to ±∞, + 0 − 0, · 1: x itself
        feeds[names.scale] = scalarF(1);
        feeds[names.lo] = scalarF(-Infinity);
        feeds[names.hi] = scalarF(Infinity);
        feeds[names.magic] = scalarF(0);
      }
      if (names.half) feeds[names.half] = scalarB(s.kind === 'half');
    });
  }
  return feeds;
}
