/** ONNX protobuf messages: typed plain objects, decoded and encoded with protobufjs. */
import * as protobuf from 'protobufjs';
import { ONNX_PROTO } from './onnx-schema';
import { QuantLensError } from '../errors';
import { externalDataFolder } from './external-data';

// int64 fields decode to JS numbers (exact up to 2^53, ample for dims and attributes).
protobuf.util.Long = undefined as never;
protobuf.configure();
// INT64_MAX (e.g. Slice-1 'ends' from PyTorch) decodes to the number 2^63; encode it back as INT64_MAX rather than
// letting protobufjs wrap it to INT64_MIN. (uint64 values >= 2^63 outside raw_data saturate too: rare and lossy anyway.)
const LongBits = (protobuf.util as unknown as { LongBits: { new (lo: number, hi: number): unknown; fromNumber(v: number): unknown } }).LongBits;
const fromNumber = LongBits.fromNumber;
LongBits.fromNumber = (v: number) => (v >= 9223372036854775807 ? new LongBits(0xffffffff, 0x7fffffff) : fromNumber(v));

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
const ModelType = root.lookupType('onnx.ModelProto');
const TensorType = root.lookupType('onnx.TensorProto');

/** ONNX TensorProto.DataType codes. */
export enum DataType {
  UNDEFINED = 0, FLOAT = 1, UINT8 = 2, INT8 = 3, UINT16 = 4, INT16 = 5, INT32 = 6, INT64 = 7,
  STRING = 8, BOOL = 9, FLOAT16 = 10, DOUBLE = 11, UINT32 = 12, UINT64 = 13, COMPLEX64 = 14,
  COMPLEX128 = 15, BFLOAT16 = 16, FLOAT8E4M3FN = 17, FLOAT8E4M3FNUZ = 18, FLOAT8E5M2 = 19,
  FLOAT8E5M2FNUZ = 20, UINT4 = 21, INT4 = 22, FLOAT4E2M1 = 23, FLOAT8E8M0 = 24,
}

/** ONNX AttributeProto.AttributeType codes. */
export enum AttributeType {
  UNDEFINED = 0, FLOAT = 1, INT = 2, STRING = 3, TENSOR = 4, GRAPH = 5, FLOATS = 6, INTS = 7,
  STRINGS = 8, TENSORS = 9, GRAPHS = 10, SPARSE_TENSOR = 11, SPARSE_TENSORS = 12, TYPE_PROTO = 13, TYPE_PROTOS = 14,
}

/** A key/value metadata pair. */
export interface StringStringEntry { key?: string; value?: string }

/** onnx.TensorProto as a plain object; `raw_data` is a view on the file's bytes after decoding. */
export interface TensorProto {
  dims?: number[];
  data_type?: number;
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  uint64_data?: number[];
  string_data?: Uint8Array[];
  external_data?: StringStringEntry[];
  data_location?: number;
}

/** onnx.AttributeProto as a plain object. */
export interface AttributeProto {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  ref_attr_name?: string;
}

/** onnx.NodeProto as a plain object. */
export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  attribute?: AttributeProto[];
  doc_string?: string;
}

/** onnx.TensorShapeProto.Dimension. */
export interface DimensionProto { dim_value?: number; dim_param?: string; denotation?: string }

/** onnx.TypeProto (tensor types are the ones QuantLens reads). */
export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: { dim?: DimensionProto[] } };
  sequence_type?: { elem_type?: TypeProto };
  map_type?: { key_type?: number; value_type?: TypeProto };
  optional_type?: { elem_type?: TypeProto };
  denotation?: string;
}

/** onnx.ValueInfoProto. */
export interface ValueInfoProto { name?: string; type?: TypeProto; doc_string?: string }

/** onnx.GraphProto. */
export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparse_initializer?: unknown[];
  doc_string?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  value_info?: ValueInfoProto[];
  quantization_annotation?: unknown[];
}

/** onnx.OperatorSetIdProto. */
export interface OperatorSetId { domain?: string; version?: number }

/** onnx.ModelProto. */
export interface ModelProto {
  ir_version?: number;
  opset_import?: OperatorSetId[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: number;
  doc_string?: string;
  graph?: GraphProto;
  metadata_props?: StringStringEntry[];
  functions?: unknown[];
}

/** Decodes ModelProto bytes; bytes fields are views on `bytes`, not copies. Throws protobufjs errors. */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  return ModelType.decode(bytes) as unknown as ModelProto;
}

/** Protobuf cannot hold a message of 2 GiB or more. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

const encoded = new WeakMap<Uint8Array, { folder: string; model: ModelProto }>();

/** Room for everything but raw tensor data (nodes, names, attributes) when encodeModelProto sizes its buffer; it grows past it if needed. */
const ENCODE_SLACK_BYTES = 1 << 20;

/**
 * Encodes a ModelProto to bytes. External tensors stay references: the folder ONNX Runtime must read them from is
 * remembered for the returned bytes (externalDataFolderOf). A model whose in-memory data reaches 2 GiB is refused
 * with a clear error (save it with saveModelFile, which writes external data) instead of building a broken buffer.
 */
export function encodeModelProto(model: ModelProto): Uint8Array {
  let inMemory = 0;
  for (const t of modelTensors(model.graph ?? {})) inMemory += t.raw_data?.byteLength ?? 0;
  if (inMemory >= PROTOBUF_LIMIT) {
    throw new QuantLensError('model-too-large', `the model holds ${(inMemory / 2 ** 30).toFixed(2)} GiB of tensor data in memory, over protobuf's 2 GiB limit for one message; it must be written with external data`);
  }
  // One buffer sized for the tensor data up front, handed back as is: protobufjs otherwise doubles its buffer from 128
  // bytes (a copy each time) and copies the result once more (ViT-B/16's 346 MB: 790 -> 245 ms, half the peak bytes).
  const writer = protobuf.Writer.create();
  writer.buf = (writer.constructor as unknown as { alloc(n: number): Uint8Array }).alloc(inMemory + ENCODE_SLACK_BYTES);
  const bytes = ModelType.encode(model as never, writer).finish(true);
  const folder = externalDataFolder(modelTensors(model.graph ?? {}));
  if (folder !== undefined) encoded.set(bytes, { folder, model });
  return bytes;
}

/** The folder the external data of model bytes from encodeModelProto lives in (undefined when all in memory). */
export function externalDataFolderOf(bytes: Uint8Array): string | undefined {
  return encoded.get(bytes)?.folder;
}

/** The model that model bytes referring to external data were encoded from (to save it with its data). */
export function encodedModelOf(bytes: Uint8Array): ModelProto | undefined {
  return encoded.get(bytes)?.model;
}

/** Every TensorProto in a graph and its subgraphs: initializers and Constant/attribute tensors. */
export function* modelTensors(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer ?? [];
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t) yield a.t;
      yield* a.tensors ?? [];
      if (a.g) yield* modelTensors(a.g);
      for (const g of a.graphs ?? []) yield* modelTensors(g);
    }
  }
}

/** Decodes a standalone TensorProto (the `.pb` files of ONNX test data). */
export function decodeTensorProto(bytes: Uint8Array): TensorProto {
  return TensorType.decode(bytes) as unknown as TensorProto;
}

/** Encodes a standalone TensorProto. */
export function encodeTensorProto(tensor: TensorProto): Uint8Array {
  return TensorType.encode(tensor as never).finish();
}
