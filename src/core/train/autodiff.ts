/** Reverse-mode differentiation over an ONNX graph: emits the backward pass as standard ONNX ops. */
import { QuantLensError } from '../errors';
import { GraphBuilder } from '../onnx/builder';
import { attrInt } from '../onnx/graph';
import { DataType, NodeProto } from '../onnx/proto';
import { FwdNode, GradContext, GradRule } from './grad-context';
import { GRAD_RULES, NON_DIFFERENTIABLE } from './grad-rules/index';
import { maxPoolIndicesName, maxPoolComputedIndices } from './grad-rules/pool';

export type { FwdNode, GradRule } from './grad-context';

const FLOAT_TYPES = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** The tensors that depend on any of `wrt` through differentiable ops (they need gradients). */
export function requiresGrad(nodes: FwdNode[], wrt: Iterable<string>): Set<string> {
  const req = new Set(wrt);
  for (const n of nodes) {
    if (!n.inputs.some((i) => i && req.has(i))) continue;
    if (NON_DIFFERENTIABLE.has(n.opType)) continue;
    if (n.opType === 'Cast' && !FLOAT_TYPES.has(attrInt(n.proto, 'to', 0))) continue;
    if (n.opType === 'MaxPool') { req.add(n.outputs[0]); continue; }
    for (const o of n.outputs) if (o) req.add(o);
  }
  return req;
}

/**
 * Copies forward nodes for a training graph: MaxPool gets an indices output when its gradient is needed, unless
 * `shapes` (static shapes) show that its rule can compute them (2-D windows tiling the input).
 */
export function prepareForward(nodes: FwdNode[], req: Set<string>, shapes?: ReadonlyMap<string, number[]>): FwdNode[] {
  return nodes.map((n) => {
    if (n.opType !== 'MaxPool' || !req.has(n.outputs[0]) || n.outputs[1]) return n;
    const xs = shapes?.get(n.inputs[0]), ys = shapes?.get(n.outputs[0]);
    if (xs && ys && maxPoolComputedIndices(n, xs, ys)) return n;
    const outputs = [n.outputs[0], maxPoolIndicesName(n)];
    const proto: NodeProto = { ...n.proto, output: outputs };
    return { ...n, outputs, proto };
  });
}

/** Options of emitBackward. */
export interface BackwardOptions {
  b: GraphBuilder;
  /** Forward nodes in topological order (after prepareForward). */
  nodes: FwdNode[];
  /** Tensors to differentiate with respect to. */
  wrt: string[];
  /** Gradients of the loss with respect to some forward tensors (typically the model output). */
  seeds: Map<string, string>;
  /** Static shapes of every forward tensor. */
  shapes: Map<string, number[]>;
  /** FLOAT or DOUBLE. */
  dtype: DataType;
  /** Values of constant integer tensors (Reshape shapes, Slice starts...). */
  constInts: (t: string) => number[] | undefined;
  /** Rules overriding the registry for particular nodes (fake quantization), by node name. */
  custom?: Map<string, GradRule>;
  file?: string;
}

/** Emits the backward pass; returns the gradient tensor of each `wrt` (undefined when the loss does not depend on it). */
export function emitBackward(o: BackwardOptions): Map<string, string | undefined> {
  const req = requiresGrad(o.nodes, o.wrt);
  const ctx = new GradContext(o.b, o.dtype, o.shapes, req, o.constInts, o.file);
  const acc = new Map<string, string[]>();
  const add = (t: string, g: string) => {
    let l = acc.get(t);
    if (!l) acc.set(t, (l = []));
    l.push(g);
  };
  const take = (t: string): string | undefined => {
    const l = acc.get(t);
    if (!l || !l.length) return undefined;
    if (l.length > 1) acc.set(t, [o.b.node('Sum', l)]);
    return acc.get(t)![0];
  };
  for (const [t, g] of o.seeds) add(t, g);
  for (let i = o.nodes.length - 1; i >= 0; i--) {
    const n = o.nodes[i];
    if (!n.inputs.some((inp) => inp && req.has(inp))) continue;
    const gys = n.outputs.map((out) => (out ? take(out) : undefined));
    if (gys.every((g) => !g)) continue;
    const rule = o.custom?.get(n.name) ?? (n.proto.domain ? undefined : GRAD_RULES[n.opType]);
    if (!rule) {
      throw new QuantLensError('train-unsupported-op', `QAT cannot differentiate operator '${n.opType}' (node '${n.name}'): no gradient rule for it`, o.file);
    }
    let gxs: (string | undefined)[];
    try {
      gxs = rule(ctx, n, gys);
    } catch (e) {
      if (e instanceof QuantLensError) throw e;
      throw new QuantLensError('train-unsupported-op', `QAT cannot differentiate operator '${n.opType}' (node '${n.name}'): ${e instanceof Error ? e.message : e}`, o.file);
    }
    n.inputs.forEach((inp, k) => {
      const g = gxs[k];
      if (inp && g && req.has(inp)) add(inp, g);
    });
  }
  return new Map(o.wrt.map((w) => [w, take(w)]));
}
