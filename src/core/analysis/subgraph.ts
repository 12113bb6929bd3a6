/**
 * The part of a model downstream of one layer, as a standalone model: the layer's weight and its (already
 * fake-quantized) activation inputs are graph inputs, every other tensor it needs from upstream is fed from
 * the float activation cache. One session per layer serves every candidate format.
 */
import { Graph, GraphNode } from '../onnx/graph';
import { makeValueInfo } from '../onnx/builder';
import { DataType, ModelProto, NodeProto, TensorProto } from '../onnx/proto';
import { Tensor, tensorToProto } from '../onnx/tensor-data';
import { QuantLayer } from '../onnx/layer';
import { shareExternalRef } from '../onnx/external-data';

/** Suffix of the renamed inputs that feed the layer its quantized weight and activations. */
export const QUANT_SUFFIX = '__ql_q';

/** A layer's downstream model and how to feed it. */
export interface DownstreamModel {
  model: ModelProto;
  /** Graph input fed with the (fake-quantized) weight, when the layer has one. */
  weightInput?: string;
  /** Per activation input of the layer: the original tensor and the graph input fed with its quantized copy. */
  activationInputs: { tensor: string; input: string }[];
  /** Non-constant tensors produced upstream that the downstream nodes read (fed from the cache as is). */
  boundary: string[];
  /** Model outputs the subgraph computes (the others equal the float model's). */
  outputs: string[];
  /** The layer's own (first) output. */
  localOutput: string;
  /** Input fed with the float model's value of `localOutput`; the model computes the local error energies itself. */
  localRefInput: string;
  /** Scalar outputs: sum of squares of (layer output − reference) and of the reference (so no big output is copied out). */
  localNoiseOutput: string;
  localSignalOutput: string;
  /** Number of nodes run (the layer and everything downstream of it). */
  nodeCount: number;
}

/** Tensors the cache must hold to run `downstreamModel` for every layer: activation inputs, boundaries and layer outputs. */
export function neededTensors(graph: Graph, layers: readonly QuantLayer[]): Set<string> {
  const need = new Set<string>();
  for (const l of layers) {
    const node = graph.byName.get(l.name)!;
    for (const a of l.activationInputs) need.add(a);
    for (const o of node.outputs) if (o) need.add(o);
    for (const t of boundaryOf(graph, node)) need.add(t);
  }
  return need;
}

function subgraphNodes(graph: Graph, node: GraphNode): GraphNode[] {
  return [node, ...graph.downstreamNodes(node.outputs.filter(Boolean))];
}

function boundaryOf(graph: Graph, node: GraphNode): string[] {
  const nodes = subgraphNodes(graph, node);
  const produced = new Set<string>();
  for (const n of nodes) for (const o of n.outputs) produced.add(o);
  const out = new Set<string>();
  for (const n of nodes) for (const i of n.inputs) if (i && !produced.has(i) && !graph.isConstant(i)) out.add(i);
  return [...out];
}

/** Options of downstreamModel / localModel. */
export interface SubModelOptions {
  /** Declared shapes of the fed tensors (ORT optimizes better with them). */
  shapeOf?: (tensor: string) => (number | string)[] | undefined;
}

/**
 * Builds the downstream model of `layer`: the layer and every node after it, outputs = the model outputs it
 * reaches. `constants` holds the values of derived constants (from foldConstants) the subgraph reads;
 * stored constants come from the graph itself.
 */
export function downstreamModel(graph: Graph, layer: QuantLayer, constants: ReadonlyMap<string, Tensor>, typeOf: (tensor: string) => DataType, opts: SubModelOptions = {}): DownstreamModel {
  return subModel(graph, layer, constants, typeOf, opts, false);
}

/**
 * The layer alone, computing its local error energies against the float output fed as `localRefInput`
 * (outputs `localNoiseOutput` and `localSignalOutput`, scalars). Kept apart from the downstream model so
 * that the extra consumer of the layer's output does not stop ORT fusing it there.
 */
export function localModel(graph: Graph, layer: QuantLayer, constants: ReadonlyMap<string, Tensor>, typeOf: (tensor: string) => DataType, opts: SubModelOptions = {}): DownstreamModel {
  return subModel(graph, layer, constants, typeOf, opts, true);
}

function subModel(graph: Graph, layer: QuantLayer, constants: ReadonlyMap<string, Tensor>, typeOf: (tensor: string) => DataType, opts: SubModelOptions, local: boolean): DownstreamModel {
  const node = graph.byName.get(layer.name);
  if (!node) throw new Error(`layer '${layer.name}' is not a node of the graph`);
  const nodes = local ? [node] : subgraphNodes(graph, node);
  const produced = new Set<string>();
  for (const n of nodes) for (const o of n.outputs) if (o) produced.add(o);

  const weight = layer.weight?.tensor;
  const weightInput = weight ? weight + QUANT_SUFFIX : undefined;
  const activationInputs = layer.activationInputs.map((tensor) => ({ tensor, input: tensor + QUANT_SUFFIX }));
  const renamed: NodeProto = {
    ...node.proto,
    input: node.inputs.map((i) => (i && i === weight ? weightInput! : activationInputs.find((a) => a.tensor === i)?.input ?? i)),
  };
  const protos = nodes.map((n) => (n === node ? renamed : n.proto));

  const initializers: TensorProto[] = [];
  const boundary: string[] = [];
  const seen = new Set<string>();
  for (const p of protos) {
    for (const i of p.input ?? []) {
      if (!i || produced.has(i) || seen.has(i) || i === weightInput || activationInputs.some((a) => a.input === i)) continue;
      seen.add(i);
      if (graph.isConstant(i)) {
        const stored = graph.initializers.get(i) ?? graph.constantNodes.get(i);
        if (stored) initializers.push(sameData(stored, i));
        else {
          const v = constants.get(i);
          if (!v) throw new Error(`the value of derived constant '${i}' is needed by the subgraph of '${layer.name}'`);
          initializers.push(tensorToProto(i, v));
        }
      } else boundary.push(i);
    }
  }
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const outputs = local ? [] : [...produced].filter((t) => graphOutputs.has(t));
  const localOutput = node.outputs[0];
  const localRefInput = `${localOutput}__ql_ref`;
  const localNoiseOutput = 'ql_local_noise';
  const localSignalOutput = 'ql_local_signal';
  const diff = 'ql_local_diff';
  const reduce = (name: string, input: string, output: string): NodeProto => ({ name, op_type: 'ReduceSumSquare', input: [input], output: [output], attribute: [{ name: 'keepdims', type: 2, i: 0 }], domain: '' });
  if (local) protos.push(
    { name: 'ql_local_sub', op_type: 'Sub', input: [localOutput, localRefInput], output: [diff], attribute: [], domain: '' },
    reduce('ql_local_noise', diff, localNoiseOutput),
    reduce('ql_local_signal', localRefInput, localSignalOutput),
  );
  const outNames = [...new Set([...outputs, ...(local ? [localNoiseOutput, localSignalOutput] : [])])];
  const shape = (t: string) => opts.shapeOf?.(t);
  const inputs = [
    ...(weightInput ? [makeValueInfo(weightInput, DataType.FLOAT, layer.weight!.dims)] : []),
    ...activationInputs.map((a) => makeValueInfo(a.input, typeOf(a.tensor), shape(a.tensor))),
    ...boundary.map((b) => makeValueInfo(b, typeOf(b), shape(b))),
    ...(local ? [makeValueInfo(localRefInput, typeOf(localOutput), shape(localOutput))] : []),
  ];
  const model: ModelProto = {
    ir_version: graph.model.ir_version,
    opset_import: graph.model.opset_import,
    functions: graph.model.functions,
    graph: { name: `${local ? 'local' : 'downstream'}_${layer.name}`, node: protos, initializer: initializers, input: inputs, output: outNames.map((name) => ({ name })) },
  };
  return { model, weightInput, activationInputs, boundary, outputs, localOutput, localRefInput, localNoiseOutput, localSignalOutput, nodeCount: nodes.length };
}

/** Derived constants (not stored) read by the layer nodes or anything downstream of them. */
export function derivedConstantsNeeded(graph: Graph, layers: readonly QuantLayer[]): string[] {
  const out = new Set<string>();
  for (const l of layers) {
    const node = graph.byName.get(l.name)!;
    for (const n of subgraphNodes(graph, node)) {
      for (const i of n.inputs) if (i && graph.isConstant(i) && !graph.initializers.has(i) && !graph.constantNodes.has(i)) out.add(i);
    }
  }
  return [...out];
}

/** A copy of a stored tensor under another name that keeps its external-data reference (ONNX Runtime reads it from the model's folder). */
function sameData(stored: TensorProto, name: string): TensorProto {
  const copy = { ...stored, name };
  shareExternalRef(stored, copy);
  return copy;
}
