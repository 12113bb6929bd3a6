/** The extension's settings, read through a getter so the logic stays testable without vscode. */
import type { DataSpec } from '../shared/protocol';
import type { Target } from '../shared/report';

/** All QuantLens settings with defaults applied. */
export interface QuantLensSettings {
  /** Candidate formats for analysis (`weights:activations` or format ids); empty = the engine's default set. */
  formats: string[];
  /** Calibration samples per analysis/export. */
  calibrationSamples: number;
  /** Calibration/training data folder; empty = synthetic inputs (or `mnist` for the bundled digits). */
  dataFolder: string;
  /** Memory budget of the engine for cached activations, MB. */
  memoryBudgetMB: number;
  /** ONNX Runtime intra-op threads in the engine (0: the machine's cores). */
  threads: number;
  /** What the recommendation must achieve. */
  target: Target;
  /** QAT steps per run. */
  qatSteps: number;
}

/** Reads one setting (`section.key` under `quantlens.`); undefined = unset. */
export type SettingGetter = (key: string) => unknown;

/** Reads and validates the settings; out-of-range values fall back to defaults. */
export function readSettings(get: SettingGetter): QuantLensSettings {
  const num = (key: string, def: number, min: number, max: number) => {
    const v = get(key);
    return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : def;
  };
  const formats = get('analysis.formats');
  const targetKind = get('recommendation.target');
  const targetValue = get('recommendation.targetValue');
  let target: Target;
  if (targetKind === 'max-accuracy-drop') target = { kind: 'max-accuracy-drop', value: typeof targetValue === 'number' ? targetValue : 0.01 };
  else if (targetKind === 'max-size-bytes') target = { kind: 'max-size-bytes', value: typeof targetValue === 'number' ? targetValue : 1e6 };
  else target = { kind: 'min-sqnr-db', value: typeof targetValue === 'number' ? targetValue : 30 };
  const folder = get('data.folder');
  return {
    formats: Array.isArray(formats) ? formats.filter((f): f is string => typeof f === 'string' && f.trim() !== '') : [],
    calibrationSamples: Math.round(num('data.calibrationSamples', 64, 1, 100000)),
    dataFolder: typeof folder === 'string' ? folder.trim() : '',
    memoryBudgetMB: num('memoryBudgetMB', 1024, 64, 1 << 20),
    threads: Math.round(num('threads', 0, 0, 256)),
    target,
    qatSteps: Math.round(num('qat.steps', 200, 1, 1e7)),
  };
}

/** The DataSpec for engine requests; a relative folder resolves against `workspaceFolder`. */
export function dataSpec(s: QuantLensSettings, resolve: (p: string) => string): DataSpec {
  if (!s.dataFolder) return { samples: s.calibrationSamples };
  if (s.dataFolder.toLowerCase() === 'mnist') return { builtin: 'mnist', samples: s.calibrationSamples };
  return { folder: resolve(s.dataFolder), samples: s.calibrationSamples };
}
