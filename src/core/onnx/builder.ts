/** Building ONNX models in code: used by the tests, the exporter and the training-graph builder. */
import { AttributeProto, AttributeType, DataType, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from './proto';
import { Tensor, tensorToProto } from './tensor-data';

/** Marks a number as a FLOAT attribute (plain integers are written as INT). */
export class FloatAttr {
  constructor(readonly value: number | number[]) {}
}

/** Wraps a float (or float list) attribute value. */
export const float = (value: number | number[]): FloatAttr => new FloatAttr(value);

/** Values an attribute can be given as. */
export type AttrValue = number | number[] | string | string[] | FloatAttr | Tensor | GraphProto;

/** Converts a JS value to an AttributeProto. */
export function makeAttribute(name: string, value: AttrValue): AttributeProto {
  if (value instanceof FloatAttr) {
    return Array.isArray(value.value)
      ? { name, type: AttributeType.FLOATS, floats: value.value }
      : { name, type: AttributeType.FLOAT, f: value.value };
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: AttributeType.INT, i: value } : { name, type: AttributeType.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(value, 'utf8') };
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) return { name, type: AttributeType.STRINGS, strings: (value as string[]).map((v) => Buffer.from(v)) };
    const nums = value as number[];
    return nums.every(Number.isInteger) ? { name, type: AttributeType.INTS, ints: nums } : { name, type: AttributeType.FLOATS, floats: nums };
  }
  if ('data' in value && 'dims' in value) return { name, type: AttributeType.TENSOR, t: tensorToProto('', value) };
  return { name, type: AttributeType.GRAPH, g: value };
}

/** A tensor ValueInfoProto; dims may be numbers or symbolic names. */
export function makeValueInfo(name: string, elemType: DataType, shape?: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: { tensor_type: { elem_type: elemType, shape: shape ? { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } : undefined } },
  };
}

/** Incrementally builds a graph (and a model around it) with unique tensor names. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  readonly valueInfo: ValueInfoProto[] = [];
  private counter = 0;
  private readonly names = new Set<string>();

  constructor(readonly name = 'graph', private readonly prefix = '') {}

  /** A fresh tensor name starting with `hint`. */
  fresh(hint: string): string {
    let n = `${this.prefix}${hint}`;
    while (this.names.has(n)) n = `${this.prefix}${hint}_${++this.counter}`;
    this.names.add(n);
    return n;
  }

  /** Declares a graph input. */
  input(name: string, elemType: DataType, shape?: (number | string)[]): string {
    this.names.add(name);
    this.inputs.push(makeValueInfo(name, elemType, shape));
    return name;
  }

  /** Declares a graph output (an existing tensor). */
  output(name: string, elemType: DataType = DataType.FLOAT, shape?: (number | string)[]): string {
    this.outputs.push(makeValueInfo(name, elemType, shape));
    return name;
  }

  /** Adds an initializer and returns its name (made unique). */
  initializer(hint: string, tensor: Tensor): string {
    const name = this.fresh(hint);
    this.initializers.push(tensorToProto(name, tensor));
    return name;
  }

  /** Adds an initializer given as a TensorProto, keeping its name. */
  initializerProto(t: TensorProto): string {
    this.names.add(t.name ?? '');
    this.initializers.push(t);
    return t.name ?? '';
  }

  /** A float32 constant initializer from numbers. */
  constFloat(hint: string, values: number[] | Float32Array, dims: number[] = [values.length]): string {
    return this.initializer(hint, { type: DataType.FLOAT, dims, data: Float32Array.from(values) });
  }

  /** An int64 constant initializer from numbers (shapes, axes). */
  constInt64(hint: string, values: number[], dims: number[] = [values.length]): string {
    return this.initializer(hint, { type: DataType.INT64, dims, data: BigInt64Array.from(values.map(BigInt)) });
  }

  /** Adds a node with one output and returns the output's name. */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue | undefined> = {}, opts: { name?: string; output?: string; domain?: string } = {}): string {
    return this.nodeMulti(opType, inputs, 1, attrs, opts)[0];
  }

  /** Adds a node with `outputCount` outputs (names generated unless given) and returns them. */
  nodeMulti(opType: string, inputs: string[], outputCount: number | string[], attrs: Record<string, AttrValue | undefined> = {}, opts: { name?: string; output?: string; domain?: string } = {}): string[] {
    const outputs = Array.isArray(outputCount)
      ? outputCount.map((o) => { this.names.add(o); return o; })
      : Array.from({ length: outputCount }, (_, k) => (k === 0 && opts.output ? (this.names.add(opts.output), opts.output) : this.fresh(`${opts.name ?? opType}_out${k}`)));
    const attribute = Object.entries(attrs).filter(([, v]) => v !== undefined).map(([k, v]) => makeAttribute(k, v as AttrValue));
    this.nodes.push({ op_type: opType, input: inputs, output: outputs, name: opts.name ?? this.fresh(`${opType}_node`), attribute, domain: opts.domain ?? '' });
    return outputs;
  }

  /** The GraphProto built so far. */
  graph(): GraphProto {
    return { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs, value_info: this.valueInfo };
  }

  /** A ModelProto around the graph with the given default-domain opset (and others). */
  model(opset: number, extraOpsets: { domain: string; version: number }[] = [], irVersion?: number): ModelProto {
    return makeModel(this.graph(), opset, extraOpsets, irVersion);
  }
}

/** The IR version ONNX pairs with an opset (ORT refuses a too-old IR for new types). */
export function irVersionForOpset(opset: number): number {
  if (opset >= 23) return 11;
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 13) return 7;
  if (opset >= 12) return 7;
  if (opset >= 11) return 6;
  if (opset >= 10) return 5;
  if (opset >= 9) return 4;
  return 3;
}

/** Wraps a graph into a model. */
export function makeModel(graph: GraphProto, opset: number, extraOpsets: { domain: string; version: number }[] = [], irVersion?: number): ModelProto {
  return {
    ir_version: irVersion ?? irVersionForOpset(opset),
    producer_name: 'quantlens',
    producer_version: '0.1.0',
    opset_import: [{ domain: '', version: opset }, ...extraOpsets],
    graph,
  };
}
