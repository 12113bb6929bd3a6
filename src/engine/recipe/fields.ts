/** Field names and descriptions of the recipe, read from the published JSON Schema (one source of truth). */
import { FORMAT_EXAMPLES, NumberFormat } from '../../shared/formats';
import schema from '../../shared/recipe-schema.json';

interface SchemaProp { description?: string }

/** Top-level fields of a recipe, in schema order. */
export const ROOT_FIELDS: readonly string[] = Object.keys(schema.properties);
/** Fields every recipe must have. */
export const REQUIRED_FIELDS: readonly string[] = schema.required;
/** Fields of a layer spec (`defaults` and the object form of a layer override). */
export const SPEC_FIELDS: readonly string[] = Object.keys(schema.definitions.layerSpec.properties);

/** The schema description of a top-level field, or of a spec field when `inSpec`. */
export function fieldDescription(name: string, inSpec: boolean): string | undefined {
  const props = (inSpec ? schema.definitions.layerSpec.properties : schema.properties) as Record<string, SchemaProp>;
  return props[name]?.description;
}

/** Description of the format grammar (for hovers). */
export const FORMAT_GRAMMAR: string = schema.definitions.format.description;
/** Description of calibration methods (for hovers). */
export const CALIBRATION_HELP: string = schema.definitions.calibration.description;
/** Calibration values offered by completion. */
export const CALIBRATION_EXAMPLES: readonly string[] = schema.definitions.calibration.examples;

/** Description of the weight rounding algorithms (for hovers). */
export const ALGORITHM_DESCRIPTION: string = schema.definitions.algorithm.description;
/** Algorithm names offered by completion. */
export const ALGORITHM_NAMES: readonly string[] = schema.definitions.algorithm.enum;

/** A one-line description of a parsed format, e.g. `4-bit signed integer, per-channel, symmetric`. */
export function describeFormat(f: NumberFormat): string {
  switch (f.kind) {
    case 'float': return '32-bit float: not quantized';
    case 'float16': return '16-bit IEEE half float';
    case 'bfloat16': return '16-bit brain float';
    case 'float8': return `8-bit float (${f.variant})`;
    case 'int': {
      const g = f.granularity;
      const gran = g.kind === 'tensor' ? 'per-tensor' : g.kind === 'channel' ? `per-channel${g.axis === undefined ? '' : ` (axis ${g.axis})`}` : `blocks of ${g.size}`;
      return `${f.bits}-bit ${f.signed ? 'signed' : 'unsigned'} integer, ${gran}, ${f.symmetric ? 'symmetric' : 'asymmetric (zero point)'}`;
    }
  }
}

/** Format strings completion offers for weights (examples first, then common variations). */
export const WEIGHT_FORMATS: readonly string[] = unique([
  ...FORMAT_EXAMPLES,
  ...[2, 3, 4, 5, 6, 8].map((b) => `int${b}/per-channel`),
  ...[4, 8].flatMap((b) => [16, 32, 64, 128].map((s) => `int${b}/block:${s}`)),
  'int4/per-tensor', 'int16/per-channel', 'int4/per-channel/asym', 'int8/per-channel/asym', 'uint8/per-channel', 'float8e5m2',
]);

/** Format strings completion offers for activations (per tensor only). */
export const ACTIVATION_FORMATS: readonly string[] = [
  'uint8', 'int8', 'uint16', 'int16', 'uint4', 'int4', 'uint8/sym', 'int8/asym', 'float16', 'bfloat16', 'float8e4m3', 'float8e5m2', 'float',
];

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
