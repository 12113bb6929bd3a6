/** Which data a run used (shown in reports and the UI): real or synthetic, how many samples, from where. */

/** The kinds of data source QuantLens reads. */
export type DataKind = 'npy' | 'images' | 'pb' | 'synthetic' | 'mnist';

/** A description of the data behind a calibration, analysis or training run. */
export interface DataDescription {
  kind: DataKind;
  /** True when the inputs were generated (not real data): results then say little about accuracy. */
  synthetic: boolean;
  /** Number of samples the source yields. */
  samples: number;
  /** The folder or file read, or the package / generator the samples come from. */
  source: string;
  /** True when the source has integer labels (one per sample). */
  labeled?: boolean;
  /** A short human-readable note: the generator's distribution, the preprocessing applied... */
  detail?: string;
}

/** A one-line text for a data description, e.g. `synthetic: 16 samples (N(0,1), seed 0)`. */
export function describeData(d: DataDescription): string {
  const what = d.synthetic ? 'synthetic' : `real (${d.kind})`;
  return `${what}: ${d.samples} sample${d.samples === 1 ? '' : 's'} from ${d.source}${d.labeled ? ', labeled' : ''}${d.detail ? ` [${d.detail}]` : ''}`;
}
