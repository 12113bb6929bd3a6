/** Graph IR over a decoded ONNX model: topological nodes, producers/consumers, constants, opsets, subgraphs. */
import { QuantLensError } from '../errors';
import { ONNX_OPS } from './onnx-ops';
import { InputRole, inputRole } from './input-roles';
import { AttributeProto, DataType, ModelProto, NodeProto, TensorProto, ValueInfoProto } from './proto';
import { tensorFromProto, Tensor } from './tensor-data';

/** A node with its position in topological order and a unique name (generated when the file has none). */
export interface GraphNode {
  index: number;
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  proto: NodeProto;
}

/** Shape as read from value info: numbers for fixed dims, strings for symbolic ones. */
export type SymbolicShape = (number | string)[];

/** Element type and shape of a graph input/output or value_info entry. */
export interface ValueInfo {
  name: string;
  elemType: DataType;
  shape?: SymbolicShape;
  /** For graph inputs: what an integer input holds (token ids of an embedding, an attention mask), read from its use. */
  role?: InputRole;
}

/** The model's main graph, indexed for analysis. */
export class Graph {
  /** Nodes in topological order. */
  readonly nodes: GraphNode[];
  /** Initializers by name. */
  readonly initializers = new Map<string, TensorProto>();
  /** Outputs of Constant nodes by name. */
  readonly constantNodes = new Map<string, TensorProto>();
  /** The node producing each tensor. */
  readonly producer = new Map<string, GraphNode>();
  /** The nodes consuming each tensor. */
  readonly consumers = new Map<string, GraphNode[]>();
  /** Graph inputs that are not initializers (what the user feeds). */
  readonly inputs: ValueInfo[];
  /** Graph outputs. */
  readonly outputs: ValueInfo[];
  /** Declared value info (types and shapes) of every tensor that has one. */
  readonly valueInfo = new Map<string, ValueInfo>();
  /** Opset version per domain ('' is ai.onnx). */
  readonly opsets = new Map<string, number>();
  /** Nodes by unique name. */
  readonly byName = new Map<string, GraphNode>();
  private readonly constantSet = new Set<string>();

  constructor(readonly model: ModelProto, readonly file = '<model>') {
    const g = model.graph!;
    for (const o of model.opset_import ?? []) this.opsets.set(o.domain === 'ai.onnx' ? '' : o.domain ?? '', Number(o.version));
    for (const t of g.initializer ?? []) this.initializers.set(t.name ?? '', t);
    const initNames = new Set(this.initializers.keys());
    this.inputs = (g.input ?? []).filter((v) => !initNames.has(v.name ?? '')).map(valueInfoOf);
    this.outputs = (g.output ?? []).map(valueInfoOf);
    for (const v of [...(g.input ?? []), ...(g.value_info ?? []), ...(g.output ?? [])]) this.valueInfo.set(v.name ?? '', valueInfoOf(v));
    for (const t of g.initializer ?? []) {
      this.valueInfo.set(t.name ?? '', { name: t.name ?? '', elemType: (t.data_type ?? 0) as DataType, shape: (t.dims ?? []).map(Number) });
    }
    this.nodes = topologicalOrder(g.node ?? [], new Set([...initNames, ...this.inputs.map((i) => i.name)]), file);
    const used = new Set<string>();
    this.nodes.forEach((n, i) => {
      n.index = i;
      let name = n.name || `${n.opType}:${n.outputs[0] ?? i}`;
      if (used.has(name)) { let k = 1; while (used.has(`${name}#${k}`)) k++; name = `${name}#${k}`; }
      used.add(name);
      n.name = name;
      this.byName.set(name, n);
      for (const o of n.outputs) if (o) this.producer.set(o, n);
      for (const inp of n.inputs) {
        if (!inp) continue;
        let list = this.consumers.get(inp);
        if (!list) this.consumers.set(inp, (list = []));
        list.push(n);
      }
      if (n.opType === 'Constant' && n.domain === '') {
        const t = constantNodeTensor(n.proto);
        if (t) this.constantNodes.set(n.outputs[0], t);
      }
    });
    for (const name of initNames) this.constantSet.add(name);
    for (const n of this.nodes) {
      const constIn = n.inputs.every((i) => !i || this.constantSet.has(i));
      const random = /^Random/.test(n.opType);
      if (constIn && !random && n.opType !== 'Loop' && n.opType !== 'If' && n.opType !== 'Scan') for (const o of n.outputs) this.constantSet.add(o);
    }
    for (const inp of this.inputs) {
      const role = inputRole(this, inp);
      if (role) inp.role = role;
    }
  }

  /** Opset of the default domain. */
  get opset(): number {
    return this.opsets.get('') ?? 1;
  }

  /** True when the tensor can be computed from constants alone (a weight, in the broad sense). */
  isConstant(tensor: string): boolean {
    return this.constantSet.has(tensor);
  }

  /** The stored value of a constant tensor (initializer or Constant node output), or undefined when derived. */
  constantValue(tensor: string): Tensor | undefined {
    const t = this.initializers.get(tensor) ?? this.constantNodes.get(tensor);
    if (!t) return undefined;
    let v: Tensor;
    try { v = tensorFromProto(t); } catch (e) {
      if (e instanceof QuantLensError) throw e;
      throw new QuantLensError('model-corrupt', `tensor '${tensor}' cannot be read: ${e instanceof Error ? e.message : e}`, this.file);
    }
    // a shape that does not match the values (a damaged or hand-edited file) would mislead every later step
    const n = v.dims.reduce((a, b) => a * b, 1);
    if (v.type !== DataType.INT4 && v.type !== DataType.UINT4 && v.data.length !== n) {
      throw new QuantLensError('model-corrupt', `tensor '${tensor}' declares shape (${v.dims.join(', ')}), ${n.toLocaleString('en-US')} values, but holds ${v.data.length.toLocaleString('en-US')}`, this.file);
    }
    return v;
  }

  /** The nodes that depend (transitively) on any of `tensors`, in topological order. */
  downstreamNodes(tensors: Iterable<string>): GraphNode[] {
    const live = new Set(tensors);
    const out: GraphNode[] = [];
    for (const n of this.nodes) {
      if (n.inputs.some((i) => live.has(i))) {
        out.push(n);
        for (const o of n.outputs) live.add(o);
      }
    }
    return out;
  }

  /** The nodes needed to compute `tensors` from graph inputs and constants, in topological order. */
  upstreamNodes(tensors: Iterable<string>): GraphNode[] {
    const need = new Set(tensors);
    const keep = new Set<GraphNode>();
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (n.outputs.some((o) => need.has(o))) {
        keep.add(n);
        for (const inp of n.inputs) if (inp) need.add(inp);
      }
    }
    return this.nodes.filter((n) => keep.has(n));
  }

  /** Nodes of the default domain whose op type ONNX does not define (the model cannot be analysed as ONNX). */
  unknownOps(): GraphNode[] {
    return this.nodes.filter((n) => n.domain === '' && !ONNX_OPS.has(n.opType));
  }

  /** Throws a clear error when the graph uses operators that are not part of ONNX. */
  assertKnownOps(): void {
    const bad = this.unknownOps();
    if (bad.length) {
      const list = bad.slice(0, 5).map((n) => `'${n.opType}' (node '${n.name}')`).join(', ');
      throw new QuantLensError('unsupported-op', `the model uses operator${bad.length > 1 ? 's' : ''} that ONNX does not define: ${list}${bad.length > 5 ? `, and ${bad.length - 5} more` : ''}`, this.file);
    }
  }
}

/** Element type and shape of a ValueInfoProto. */
export function valueInfoOf(v: ValueInfoProto): ValueInfo {
  const tt = v.type?.tensor_type;
  const dims = tt?.shape?.dim;
  return {
    name: v.name ?? '',
    elemType: (tt?.elem_type ?? 0) as DataType,
    shape: dims ? dims.map((d) => (d.dim_param ? d.dim_param : d.dim_value != null ? Number(d.dim_value) : '?')) : undefined,
  };
}

/** Reads an attribute by name; undefined when absent. */
export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/** Integer attribute with a default. */
export function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.i !== undefined && a.i !== null ? Number(a.i) : dflt;
}

/** Float attribute with a default. */
export function attrFloat(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.f !== undefined && a.f !== null ? Number(a.f) : dflt;
}

/** Integer-list attribute with a default. */
export function attrInts(node: NodeProto, name: string, dflt: number[]): number[] {
  const a = attr(node, name);
  return a && a.ints && a.ints.length ? a.ints.map(Number) : dflt;
}

/** String attribute with a default. */
export function attrString(node: NodeProto, name: string, dflt: string): string {
  const a = attr(node, name);
  return a && a.s && a.s.length ? Buffer.from(a.s).toString('utf8') : dflt;
}

/** The tensor a Constant node holds (value, or value_float(s)/value_int(s)). */
export function constantNodeTensor(node: NodeProto): TensorProto | undefined {
  for (const a of node.attribute ?? []) {
    switch (a.name) {
      case 'value': return a.t;
      case 'value_float': return { dims: [], data_type: DataType.FLOAT, float_data: [Number(a.f)] };
      case 'value_floats': return { dims: [a.floats?.length ?? 0], data_type: DataType.FLOAT, float_data: a.floats };
      case 'value_int': return { dims: [], data_type: DataType.INT64, int64_data: [Number(a.i)] };
      case 'value_ints': return { dims: [a.ints?.length ?? 0], data_type: DataType.INT64, int64_data: a.ints };
    }
  }
  return undefined;
}

function topologicalOrder(protos: NodeProto[], available: Set<string>, file: string): GraphNode[] {
  const nodes: GraphNode[] = protos.map((p, i) => ({
    index: i, name: p.name ?? '', opType: p.op_type ?? '', domain: p.domain === 'ai.onnx' ? '' : p.domain ?? '',
    inputs: (p.input ?? []).slice(), outputs: (p.output ?? []).slice(), proto: p,
  }));
  const produced = new Set<string>();
  for (const n of nodes) for (const o of n.outputs) produced.add(o);
  const ready = (n: GraphNode, have: Set<string>) => n.inputs.every((i) => !i || have.has(i) || !produced.has(i));
  // Fast path: already sorted (the usual case).
  const have = new Set(available);
  let sorted = true;
  for (const n of nodes) {
    if (!ready(n, have)) { sorted = false; break; }
    for (const o of n.outputs) have.add(o);
  }
  if (sorted) return nodes;
  // Kahn's algorithm, keeping file order among ready nodes.
  const out: GraphNode[] = [];
  const done = new Set(available);
  const pending = nodes.slice();
  while (pending.length) {
    const k = pending.findIndex((n) => ready(n, done));
    if (k < 0) throw new QuantLensError('model-cycle', `the graph has a cycle or a missing producer around node '${pending[0].name || pending[0].opType}'`, file);
    const [n] = pending.splice(k, 1);
    out.push(n);
    for (const o of n.outputs) done.add(o);
  }
  return out;
}
