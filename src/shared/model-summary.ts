/** The model summary shown by `quantlens inspect` and the model view: plain JSON-able data. */

/** A graph input or output: name, element type name and shape (symbolic dims as strings). */
export interface TensorSummary {
  name: string;
  /** Lower-case ONNX type name: `float`, `int64`, ... */
  type: string;
  shape?: (number | string)[];
  /** The concrete shape used for shape inference, when it ran. */
  inferredShape?: number[];
}

/** What `quantlens inspect` prints about a model. */
export interface ModelSummary {
  file?: string;
  /** File size in bytes (including external data when known). */
  fileSize?: number;
  irVersion: number;
  /** Opset per domain ('' / 'ai.onnx' is the default domain). */
  opsets: { domain: string; version: number }[];
  producer: string;
  producerVersion?: string;
  inputs: TensorSummary[];
  outputs: TensorSummary[];
  nodeCount: number;
  /** Count of nodes per op type (domain-qualified for non-default domains), most frequent first. */
  opHistogram: { op: string; count: number }[];
  /** Parameters in quantizable layers' weights. */
  layerParams: number;
  /** Elements of every float constant (initializers and Constant nodes). */
  parameterCount: number;
  /** Bytes of all stored constants. */
  constantBytes: number;
  /** Total multiply-accumulates of the quantizable layers per sample at the inferred shapes; undefined when shapes are unknown. */
  macs?: number;
  /** Number of quantizable layers by kind. */
  layersByKind: Record<string, number>;
  layerCount: number;
  /** Where weights live: counts of layers per weight source. */
  weightSources: Record<string, number>;
}
