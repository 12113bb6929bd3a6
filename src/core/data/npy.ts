/** NumPy `.npy` files: a small parser (format v1, v2, v3; C order) and a writer. */
import { QuantLensError } from '../errors';
import { DataType } from '../onnx/proto';
import { Tensor, TensorArray, viewAs, elementSize } from '../onnx/tensor-data';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy dtype strings (little-endian or byte-order free) and the ONNX element type each reads as. */
const DTYPES: Record<string, DataType> = {
  f4: DataType.FLOAT, f8: DataType.DOUBLE, f2: DataType.FLOAT16,
  i1: DataType.INT8, u1: DataType.UINT8, i2: DataType.INT16, u2: DataType.UINT16,
  i4: DataType.INT32, u4: DataType.UINT32, i8: DataType.INT64, u8: DataType.UINT64, b1: DataType.BOOL,
};

/** The parsed header of a `.npy` file. */
export interface NpyHeader {
  /** Format version, e.g. [1, 0]. */
  version: [number, number];
  /** The dtype string as written, e.g. `<f4`. */
  descr: string;
  type: DataType;
  shape: number[];
  /** Byte offset of the data. */
  dataOffset: number;
}

/** Parses the header of `.npy` bytes; throws a QuantLensError naming `file` when it is not a usable npy. */
export function parseNpyHeader(bytes: Uint8Array, file: string): NpyHeader {
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new QuantLensError('data-corrupt', 'not a NumPy .npy file (the magic string \\x93NUMPY is missing)', file);
  }
  const major = bytes[6];
  const minor = bytes[7];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) { headerLen = dv.getUint16(8, true); start = 10; }
  else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new QuantLensError('data-corrupt', 'the .npy header is truncated', file);
    headerLen = dv.getUint32(8, true); start = 12;
  } else throw new QuantLensError('data-unsupported', `.npy format version ${major}.${minor} is not supported (1, 2 and 3 are)`, file);
  if (start + headerLen > bytes.byteLength) throw new QuantLensError('data-corrupt', 'the .npy header is truncated', file);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new QuantLensError('data-corrupt', `the .npy header is not a valid dictionary with descr, fortran_order and shape: ${JSON.stringify(text.trim().slice(0, 120))}`, file);
  }
  if (fortran === 'True') {
    throw new QuantLensError('data-unsupported', '.npy data in Fortran order (fortran_order: True) is not supported: save it in C order (numpy.ascontiguousarray)', file);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const n = Number(s.replace(/L$/, ''));
    if (!Number.isInteger(n) || n < 0) throw new QuantLensError('data-corrupt', `the .npy shape (${shapeText}) is not a list of sizes`, file);
    return n;
  });
  const type = dtypeToType(descr, file);
  return { version: [major, minor], descr, type, shape, dataOffset: start + headerLen };
}

function dtypeToType(descr: string, file: string): DataType {
  const m = /^([<>|=]?)([a-z]\d+)$/.exec(descr);
  const type = m ? DTYPES[m[2]] : undefined;
  if (!m || type === undefined) {
    throw new QuantLensError('data-unsupported', `.npy dtype '${descr}' is not supported (expected one of <f4, <f8, <f2, <i8, <i4, <i2, |i1, |u1, <u2, <u4, |b1)`, file);
  }
  if (m[1] === '>' && elementSize(type) > 1) {
    throw new QuantLensError('data-unsupported', `.npy dtype '${descr}' is big-endian; save it little-endian (array.astype('<${m[2]}'))`, file);
  }
  return type;
}

/** Parses a whole `.npy` file into a tensor (data is a view on `bytes` when aligned). */
export function parseNpy(bytes: Uint8Array, file: string): Tensor {
  const h = parseNpyHeader(bytes, file);
  let count = 1;
  for (const d of h.shape) count *= d;
  const need = count * elementSize(h.type);
  const have = bytes.byteLength - h.dataOffset;
  if (have < need) {
    throw new QuantLensError('data-corrupt', `the .npy data is truncated: shape (${h.shape.join(', ')}) of ${h.descr} needs ${need} bytes, the file has ${have}`, file);
  }
  const data: TensorArray = viewAs(h.type, bytes.subarray(h.dataOffset, h.dataOffset + need));
  return { type: h.type, dims: h.shape, data };
}

const TYPE_TO_DESCR = new Map<DataType, string>(Object.entries(DTYPES).map(([k, v]) => [v, (k.endsWith('1') ? '|' : '<') + k]));

/** Encodes a tensor as `.npy` bytes (C order; version 1 unless the header needs 2, or `version` forces one). */
export function encodeNpy(tensor: Tensor, version?: 1 | 2 | 3): Uint8Array {
  const descr = TYPE_TO_DESCR.get(tensor.type);
  if (!descr) throw new Error(`cannot write element type ${DataType[tensor.type]} to .npy`);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const v = version ?? (header.length + 11 > 65535 ? 2 : 1);
  const pre = v === 1 ? 10 : 12;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = header.padEnd(total - pre - 1, ' ') + '\n';
  const d = tensor.data;
  const out = new Uint8Array(total + d.byteLength);
  out.set(MAGIC, 0);
  out[6] = v; out[7] = 0;
  const dv = new DataView(out.buffer);
  if (v === 1) dv.setUint16(8, header.length, true); else dv.setUint32(8, header.length, true);
  out.set(Buffer.from(header, v === 3 ? 'utf8' : 'latin1'), pre);
  out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), total);
  return out;
}
