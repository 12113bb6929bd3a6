/** The description of one quantizable layer, as produced by the layer inventory. */

/** What kind of quantizable operation a layer is. */
export type LayerKind =
  | 'conv' | 'depthwise-conv' | 'conv-transpose' | 'gemm' | 'matmul' | 'matmul-activations' | 'embedding';

/** Statistics of a layer's weight tensor, for diagnosis. */
export interface WeightStats {
  min: number;
  max: number;
  absMax: number;
  std: number;
  /** Largest per-output-channel absolute max divided by the median channel's (1 = uniform). */
  channelRangeSpread: number;
  /** Per-output-channel absolute max (for the range plot). */
  channelAbsMax: number[];
  /** absMax / std: how far the extreme value sits from the bulk (large = outliers). */
  outlierRatio: number;
}

/** A weight tensor of a layer. */
export interface LayerWeight {
  /** The tensor name (an initializer, a Constant node output, or a tensor computed from constants). */
  tensor: string;
  dims: number[];
  /** Axis of output channels (per-channel quantization axis): 0 for Conv/MatMul-as-[out,in]... see inventory. */
  channelAxis: number;
  /** Axis along which blocks are taken for block quantization (the reduction axis). */
  reductionAxis: number;
  /** Where the value lives: an initializer, a Constant node, or derived from constants by other nodes. */
  source: 'initializer' | 'constant-node' | 'derived';
  /**
   * For a derived weight that only relays out a stored one (Transpose, Reshape, Identity, Squeeze, Unsqueeze,
   * Flatten): that stored tensor. Two layers with the same origin share one set of parameters (a tied weight).
   */
  origin?: string;
}

/** One quantizable layer (keyed by its node name in recipes). */
export interface QuantLayer {
  /** Unique node name (recipe key). */
  name: string;
  opType: string;
  kind: LayerKind;
  /** Index of the node in the graph's topological order. */
  nodeIndex: number;
  /** Input tensors that are activations (quantized with the activation format). */
  activationInputs: string[];
  weight?: LayerWeight;
  /** Bias tensor, kept in float (or int32 in QDQ when both input scales are known). */
  bias?: string;
  outputs: string[];
  /** Number of weight parameters. */
  params: number;
  /** Multiply-accumulates for one sample, when shapes are known. */
  macs?: number;
  weightStats?: WeightStats;
}
