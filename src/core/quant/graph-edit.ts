/** Copy-on-write edits of a model's main graph: insert nodes before a consumer, rewire inputs, drop unused weights. */
import { QuantLensError } from '../errors';
import { makeAttribute, AttrValue, irVersionForOpset } from '../onnx/builder';
import { Graph, GraphNode } from '../onnx/graph';
import { DataType, ModelProto, NodeProto, TensorProto } from '../onnx/proto';
import { dataTypeName, Tensor, tensorToProto, toFloat32 } from '../onnx/tensor-data';

/** Edits a model without mutating it: the original's nodes, initializers and bytes are shared where unchanged. */
export class ModelEditor {
  readonly graph: Graph;
  private readonly names = new Set<string>();
  private readonly before = new Map<number, NodeProto[]>();
  private readonly rewired = new Map<number, string[]>();
  private readonly newInits: TensorProto[] = [];
  private readonly dropCandidates = new Set<string>();
  private counter = 0;

  constructor(readonly model: ModelProto, readonly file = '<model>', graph?: Graph) {
    this.graph = graph ?? new Graph(model, file);
    const g = model.graph ?? {};
    for (const t of g.initializer ?? []) this.names.add(t.name ?? '');
    for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])]) this.names.add(v.name ?? '');
    for (const n of this.graph.nodes) { for (const o of n.outputs) this.names.add(o); for (const i of n.inputs) this.names.add(i); this.names.add(n.name); }
  }

  /** A tensor or node name not used anywhere in the model yet. */
  fresh(hint: string): string {
    let n = hint;
    while (this.names.has(n)) n = `${hint}_${++this.counter}`;
    this.names.add(n);
    return n;
  }

  /**
   * Node names of an earlier version of this model (before an opset upgrade) mapped to their first output,
   * so plan entries keep resolving when the upgrade renamed or renumbered unnamed nodes.
   */
  aliases?: Map<string, string>;

  /** The node a plan refers to by its (unique) name; QuantLensError when missing. */
  node(name: string): GraphNode {
    const alias = this.aliases?.get(name);
    const n = (alias !== undefined ? this.graph.producer.get(alias) : undefined) ?? this.graph.byName.get(name);
    if (!n) throw new QuantLensError('plan-unknown-node', `the model has no node named '${name}'`, this.file);
    return n;
  }

  /** Adds an initializer (named `hint`, made unique) and returns its name. */
  addInitializer(hint: string, tensor: Tensor | TensorProto): string {
    const name = this.fresh(hint);
    const proto = 'data' in tensor && 'type' in tensor ? tensorToProto(name, tensor as Tensor) : { ...(tensor as TensorProto), name };
    this.newInits.push(proto);
    return name;
  }

  /** Creates a node (inserted right before the node at topological index `at`) and returns its outputs. */
  addNode(at: number, opType: string, inputs: string[], outputHint: string, attrs: Record<string, AttrValue | undefined> = {}): string {
    const output = this.fresh(outputHint);
    const name = this.fresh(`${output}_node`);
    const attribute = Object.entries(attrs).filter(([, v]) => v !== undefined).map(([k, v]) => makeAttribute(k, v as AttrValue));
    const list = this.before.get(at) ?? [];
    list.push({ op_type: opType, domain: '', name, input: inputs, output: [output], attribute });
    this.before.set(at, list);
    return output;
  }

  /** Replaces every use of `from` among `node`'s inputs with `to`. */
  rewire(node: GraphNode, from: string, to: string): void {
    const inputs = this.rewired.get(node.index) ?? node.inputs.slice();
    let hit = false;
    for (let i = 0; i < inputs.length; i++) if (inputs[i] === from) { inputs[i] = to; hit = true; }
    if (!hit) throw new QuantLensError('plan-bad-tensor', `node '${node.name}' has no input '${from}'`, this.file);
    this.rewired.set(node.index, inputs);
  }

  /** Marks a weight tensor to be removed if nothing uses it after the edits. */
  dropIfUnused(tensor: string): void {
    this.dropCandidates.add(tensor);
  }

  /** The float32 value of a weight: initializer, Constant node, or a value given for derived tensors. */
  weightValue(tensor: string, derived?: Map<string, Tensor>): { data: Float32Array; dims: number[] } {
    const t = this.graph.constantValue(tensor) ?? derived?.get(tensor);
    if (!t) {
      throw new QuantLensError('weight-derived', `weight '${tensor}' is computed from constants by other nodes; fold it first (pass its value in options.weightValues)`, this.file);
    }
    if (t.type !== DataType.FLOAT) {
      throw new QuantLensError('unsupported-weight-type', `weight '${tensor}' is ${dataTypeName(t.type)}; QuantLens quantizes float32 models (convert the model to float32 first)`, this.file);
    }
    return { data: toFloat32(t), dims: t.dims.slice() };
  }

  /** Throws unless `tensor` is float32 (or of unknown type): Q/DQ and the simulation compute in float32. */
  assertFloatActivation(tensor: string): void {
    const v = this.graph.valueInfo.get(tensor);
    if (v && v.elemType !== DataType.FLOAT && v.elemType !== DataType.UNDEFINED) {
      throw new QuantLensError('unsupported-activation-type', `activation '${tensor}' is ${dataTypeName(v.elemType)}; only float32 activations can be quantized`, this.file);
    }
  }

  /** The edited model (a new object; the input model is untouched). */
  build(opset?: number): ModelProto {
    const src = this.model.graph ?? {};
    const nodes: NodeProto[] = [];
    const used = new Set<string>();
    for (const n of this.graph.nodes) {
      for (const extra of this.before.get(n.index) ?? []) nodes.push(extra);
      const inputs = this.rewired.get(n.index);
      nodes.push(inputs ? { ...n.proto, input: inputs } : n.proto);
    }
    const graphOutputs = new Set((src.output ?? []).map((o) => o.name ?? ''));
    // Prune nodes that computed a replaced weight from constants and are now unused (repeat: chains).
    let keptNodes = nodes;
    const pruned = new Set<string>();
    for (;;) {
      used.clear();
      for (const n of keptNodes) { for (const i of n.input ?? []) used.add(i); subgraphInputs(n, used); }
      const dead = (n: NodeProto) => {
        const outs = (n.output ?? []).filter(Boolean);
        return outs.length > 0 && outs.every((o) => !used.has(o) && !graphOutputs.has(o) && this.graph.isConstant(o))
          && outs.some((o) => this.dropCandidates.has(o) || pruned.has(o));
      };
      const next = keptNodes.filter((n) => !dead(n));
      if (next.length === keptNodes.length) break;
      for (const n of keptNodes) if (dead(n)) for (const i of n.input ?? []) { pruned.add(i); this.dropCandidates.add(i); }
      keptNodes = next;
    }
    for (const o of graphOutputs) used.add(o);
    const drop = new Set([...this.dropCandidates].filter((t) => !used.has(t)));
    const graph = {
      ...src,
      node: keptNodes,
      initializer: [...(src.initializer ?? []).filter((t) => !drop.has(t.name ?? '')), ...this.newInits],
      input: (src.input ?? []).filter((v) => !drop.has(v.name ?? '')),
      value_info: (src.value_info ?? []).filter((v) => !drop.has(v.name ?? '')),
    };
    let opsetImport = this.model.opset_import ?? [];
    let ir = Number(this.model.ir_version ?? 0);
    if (opset !== undefined) {
      opsetImport = opsetImport.map((o) => ((o.domain ?? '') === '' || o.domain === 'ai.onnx' ? { ...o, version: Math.max(Number(o.version), opset) } : o));
      if (!opsetImport.some((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx')) opsetImport = [...opsetImport, { domain: '', version: opset }];
      ir = Math.max(ir, irVersionForOpset(opset));
    }
    return { ...this.model, ir_version: ir, opset_import: opsetImport, graph };
  }
}

/** Adds every tensor name read inside `node`'s subgraphs (If/Loop/Scan bodies may read outer-scope weights). */
function subgraphInputs(node: NodeProto, used: Set<string>): void {
  for (const a of node.attribute ?? []) {
    for (const g of [a.g, ...(a.graphs ?? [])]) {
      if (!g) continue;
      for (const n of g.node ?? []) { for (const i of n.input ?? []) used.add(i); subgraphInputs(n, used); }
    }
  }
}
