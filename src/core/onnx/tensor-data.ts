/** Typed-array views of ONNX tensors, element types, and float16/bfloat16/int4 conversions. */
import { DataType, TensorProto } from './proto';
import { hasExternalData, readExternalData } from './external-data';

/** A dense tensor in memory: element type, shape and data. */
export interface Tensor {
  type: DataType;
  dims: number[];
  data: TensorArray;
}

/** The typed arrays a tensor's data can be held in. */
export type TensorArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** Bytes per element, or 0.5 for 4-bit types. */
export function elementSize(type: DataType): number {
  switch (type) {
    case DataType.FLOAT: case DataType.INT32: case DataType.UINT32: return 4;
    case DataType.DOUBLE: case DataType.INT64: case DataType.UINT64: case DataType.COMPLEX64: return 8;
    case DataType.COMPLEX128: return 16;
    case DataType.INT16: case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16: return 2;
    case DataType.INT4: case DataType.UINT4: case DataType.FLOAT4E2M1: return 0.5;
    case DataType.STRING: return 0;
    default: return 1;
  }
}

/** The lower-case ONNX name of an element type (`float`, `int8`, `float16`, ...). */
export function dataTypeName(type: DataType): string {
  return (DataType[type] ?? `type${type}`).toLowerCase();
}

/** Number of elements of a shape. */
export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Reinterprets bytes as the typed array of `type`: a view when aligned, an aligned copy otherwise. */
export function viewAs(type: DataType, bytes: Uint8Array): TensorArray {
  const size = elementSize(type);
  const Ctor = arrayConstructor(type);
  if (size < 1) return bytes; // packed 4-bit stays packed
  const count = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, count) as TensorArray;
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, count) as TensorArray;
}

type ArrayCtor = new (buffer: ArrayBufferLike, offset: number, length: number) => TensorArray;

function arrayConstructor(type: DataType): ArrayCtor {
  switch (type) {
    case DataType.FLOAT: return Float32Array as unknown as ArrayCtor;
    case DataType.DOUBLE: return Float64Array as unknown as ArrayCtor;
    case DataType.INT8: return Int8Array as unknown as ArrayCtor;
    case DataType.INT16: return Int16Array as unknown as ArrayCtor;
    case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16: return Uint16Array as unknown as ArrayCtor;
    case DataType.INT32: return Int32Array as unknown as ArrayCtor;
    case DataType.UINT32: return Uint32Array as unknown as ArrayCtor;
    case DataType.INT64: return BigInt64Array as unknown as ArrayCtor;
    case DataType.UINT64: return BigUint64Array as unknown as ArrayCtor;
    default: return Uint8Array as unknown as ArrayCtor;
  }
}

/**
 * The data of a TensorProto as a typed array (views on raw_data when aligned). External data is read from its file
 * (registered by loadModelFile; see external-data.ts).
 */
export function tensorProtoData(t: TensorProto): TensorArray {
  const type = (t.data_type ?? DataType.UNDEFINED) as DataType;
  if (hasExternalData(t)) return viewAs(type, readExternalData(t));
  if (t.raw_data && t.raw_data.byteLength > 0) return viewAs(type, t.raw_data);
  const n = sizeOf(t.dims ?? []);
  switch (type) {
    case DataType.FLOAT: return Float32Array.from(t.float_data ?? []);
    case DataType.DOUBLE: return Float64Array.from(t.double_data ?? []);
    case DataType.INT64: return BigInt64Array.from((t.int64_data ?? []).map((v) => (v >= 9223372036854775807 ? 9223372036854775807n : BigInt(v)))); // INT64_MAX decodes as 2^63: saturate, don't wrap
    case DataType.UINT64: case DataType.UINT32: return BigUint64Array.from((t.uint64_data ?? []).map((v) => BigInt(v)));
    case DataType.INT32: return Int32Array.from(t.int32_data ?? []);
    case DataType.INT8: return Int8Array.from(t.int32_data ?? []);
    case DataType.UINT8: case DataType.BOOL: return Uint8Array.from(t.int32_data ?? []);
    case DataType.INT16: return Int16Array.from(t.int32_data ?? []);
    case DataType.UINT16: case DataType.FLOAT16: case DataType.BFLOAT16: return Uint16Array.from(t.int32_data ?? []);
    case DataType.INT4: case DataType.UINT4: return Uint8Array.from(t.int32_data ?? []);
    default:
      if (n === 0) return new Float32Array(0);
      throw new Error(`tensor '${t.name ?? ''}': data type ${dataTypeName(type)} without raw_data is not supported`);
  }
}

/** A TensorProto decoded into a Tensor. */
export function tensorFromProto(t: TensorProto): Tensor {
  return { type: (t.data_type ?? 0) as DataType, dims: (t.dims ?? []).map(Number), data: tensorProtoData(t) };
}

/** A TensorProto holding `data` as raw_data (little-endian, as on every platform Node runs on). */
export function tensorToProto(name: string, tensor: Tensor): TensorProto {
  const d = tensor.data;
  return {
    name,
    dims: tensor.dims.slice(),
    data_type: tensor.type,
    raw_data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
  };
}

/** The values of a numeric tensor as float64 numbers (float16/bfloat16 decoded, int64 converted). */
export function toFloat64(tensor: Tensor): Float64Array {
  const { type, data } = tensor;
  const n = data.length;
  const out = new Float64Array(n);
  if (type === DataType.FLOAT16) for (let i = 0; i < n; i++) out[i] = halfToFloat(data[i] as number);
  else if (type === DataType.BFLOAT16) for (let i = 0; i < n; i++) out[i] = bfloat16ToFloat(data[i] as number);
  else if (data instanceof BigInt64Array || data instanceof BigUint64Array) for (let i = 0; i < n; i++) out[i] = Number(data[i]);
  else for (let i = 0; i < n; i++) out[i] = data[i] as number;
  return out;
}

/** The values of a float-like tensor as a Float32Array (a view when it already is float32). */
export function toFloat32(tensor: Tensor): Float32Array {
  if (tensor.type === DataType.FLOAT) return tensor.data as Float32Array;
  return Float32Array.from(toFloat64(tensor));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half (as its 16 bits) to a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A number to IEEE half bits, rounding to nearest even (as ONNX Runtime's Cast). */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) r++;
  return sign | r;
}

/** bfloat16 bits to a number. */
export function bfloat16ToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** A number to bfloat16 bits, rounding to nearest even. */
export function floatToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if (Number.isNaN(value)) return ((x >>> 16) | 0x40) & 0xffff;
  const rounding = 0x7fff + ((x >>> 16) & 1);
  return ((x + rounding) >>> 16) & 0xffff;
}

/** Packs 4-bit integers (one per entry, already in range) two per byte, low nibble first, as ONNX does. */
export function packInt4(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) {
    const nib = values[i] & 0x0f;
    out[i >> 1] |= i & 1 ? nib << 4 : nib;
  }
  return out;
}

/** Unpacks `count` 4-bit integers from ONNX's packed layout. */
export function unpackInt4(bytes: Uint8Array, count: number, signed: boolean): Int8Array {
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    let v = (bytes[i >> 1] >> ((i & 1) * 4)) & 0x0f;
    if (signed && v >= 8) v -= 16;
    out[i] = v;
  }
  return out;
}
