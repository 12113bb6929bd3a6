/**
 * Model and layer sizes, one definition for the core, the engine and every view: a configuration's size is the
 * bytes of its weights at their formats' bit widths (quantizable layers) plus every other float constant at 4 bytes.
 * It is what the Pareto curve, the recommendation and the panel's selection show. The bytes of a written QDQ file
 * are a different number (graph, scales, zero points, int4 stored in 8-bit containers) and are always labelled "file".
 */
import { formatBits, parseFormat } from './formats';

/** Bits per weight of a format spec (`int8/per-channel` 8, `int4/block:32` 4, `float` 32); 32 when unreadable. */
export function weightBits(spec: string): number {
  const f = parseFormat(spec);
  return f.ok ? formatBits(f.format) : 32;
}

/** A quantizable layer as far as sizes go. */
export interface SizedLayer { name: string; params: number }

/** Bytes of `params` weights at `bits` bits each. */
export function weightBytes(params: number, bits: number): number {
  return (params * bits) / 8;
}

/**
 * Bytes of a mixed-precision configuration: layers in `keep` at `higherBits`, the others at `baseBits`, plus
 * `otherFloatParams` (biases, norms, constants outside the layers) at 4 bytes. Rounded to whole bytes.
 */
export function configurationBytes(layers: readonly SizedLayer[], otherFloatParams: number, keep: ReadonlySet<string>, baseBits: number, higherBits: number): number {
  let bytes = otherFloatParams * 4;
  for (const l of layers) bytes += weightBytes(l.params, keep.has(l.name) ? higherBits : baseBits);
  return Math.round(bytes);
}

/** Bytes of the float model's weights: every parameter at 4 bytes. */
export function floatModelBytes(layers: readonly SizedLayer[], otherFloatParams: number): number {
  return Math.round((otherFloatParams + layers.reduce((s, l) => s + l.params, 0)) * 4);
}

/** The float parameters outside the layers, recovered from a float model size computed by floatModelBytes. */
export function otherParamsFromFloatBytes(layers: readonly SizedLayer[], floatBytes: number): number {
  return Math.max(0, Math.round(floatBytes / 4 - layers.reduce((s, l) => s + l.params, 0)));
}

/** The parameter counts every view shows: all float constants, and those in quantizable layers' weights. */
export function parameterText(total: number, inLayers: number, fmt: (n: number) => string): string {
  return total === inLayers ? `${fmt(total)} parameters, all in quantizable layers` : `${fmt(total)} parameters (${fmt(inLayers)} in quantizable layers' weights)`;
}
