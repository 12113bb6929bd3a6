/**
 * Model bytes for an ONNX Runtime session that leave the big in-memory initializers out of the protobuf: each one
 * refers to its bytes where they already are, as external data in a named in-memory file (ONNX Runtime's
 * `externalData` session option), so the encoding writes no copy of them and ONNX Runtime copies each range once
 * into its own tensor instead of parsing it out of a protobuf copy. On this VM a fresh 100 MB buffer costs about
 * 0.3 s in page faults alone; see runtime/proto-session.ts for the session times.
 */
import { encodeModelProto, ModelProto, TensorProto } from './proto';

/** Tensor bytes a model refers to by an in-memory file name; `used` is how many of them it reads. */
export interface InMemoryData {
  path: string;
  data: Uint8Array;
  used: number;
}

/** Encoded model bytes and the in-memory files their external initializers name. */
export interface RuntimeModelBytes {
  bytes: Uint8Array;
  externalData: InMemoryData[];
}

/** Initializers at least this big go by reference (small ones cost less encoded than as separate ranges). */
export const IN_MEMORY_MIN_BYTES = 64 * 1024;

/**
 * Encodes `model` for a session: top-level initializers of `minBytes` or more with in-memory raw data become external
 * references (location, offset, length) into one in-memory file per underlying buffer, which is passed whole (ONNX
 * Runtime copies only the ranges named). Tensors already external (on disk) stay as they are.
 */
export function encodeForRuntime(model: ModelProto, minBytes = IN_MEMORY_MIN_BYTES): RuntimeModelBytes {
  const files = new Map<ArrayBufferLike, InMemoryData>();
  const initializer = (model.graph?.initializer ?? []).map((t): TensorProto => {
    const raw = t.raw_data;
    // (a decoded tensor without raw data can hold protobufjs's default, an empty Array: not a view of any buffer)
    if (!(raw instanceof Uint8Array) || !(raw.byteLength >= minBytes) || t.data_location === 1) return t;
    let file = files.get(raw.buffer);
    if (!file) {
      file = { path: `quantlens-in-memory-${files.size}.bin`, data: new Uint8Array(raw.buffer), used: 0 };
      files.set(raw.buffer, file);
    }
    file.used += raw.byteLength;
    const { raw_data: _, ...rest } = t;
    return { ...rest, data_location: 1, external_data: [{ key: 'location', value: file.path }, { key: 'offset', value: String(raw.byteOffset) }, { key: 'length', value: String(raw.byteLength) }] };
  });
  if (!files.size) return { bytes: encodeModelProto(model), externalData: [] };
  return { bytes: encodeModelProto({ ...model, graph: { ...model.graph, initializer } }), externalData: [...files.values()] };
}
