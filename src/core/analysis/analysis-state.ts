/**
 * Resumable analysis state: what a run has finished (screening, isolated results per layer, measured whole-model
 * configurations), kept in one JSON file per analysis key and rewritten atomically after each step, so that a
 * killed or cancelled run resumes where it stopped. The key covers the model (file size and mtime, or its bytes),
 * the data (description and a hash of its first batch), the formats and every option that changes a number.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Graph } from '../onnx/graph';
import { encodeModelProto } from '../onnx/proto';
import { Tensor } from '../onnx/tensor-data';
import { writeFileAtomic } from '../onnx/model-file';
import { DataSource } from '../data/source';
import { EndToEndMetrics, LayerFormatResult, REPORT_SCHEMA_VERSION } from '../../shared/report';
import { NoiseEnergy, ScreeningResult } from './screening';

const STATE_VERSION = 1;

/** The default folder of analysis state: $XDG_CACHE_HOME/quantlens/analysis (or ~/.cache/...). */
export function defaultStateDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'quantlens', 'analysis');
}

/** A memo of measured whole-model configurations by key. */
export interface ConfigurationMemo {
  get(key: string): EndToEndMetrics | undefined;
  set(key: string, m: EndToEndMetrics): void;
}

interface Saved {
  version: number;
  key: string;
  screening?: {
    signal: number; samples: number; buildMs: number; runMs: number;
    weightNoise: [string, [string, NoiseEnergy][]][];
    activationNoise: [string, [string, NoiseEnergy][]][];
    unsupported: [string, string][];
  };
  isolated: Record<string, Record<string, LayerFormatResult>>;
  configurations: Record<string, EndToEndMetrics>;
}

/** The state file of one analysis; every save rewrites it atomically. */
export class AnalysisState {
  private constructor(readonly file: string, private readonly saved: Saved, readonly resumed: boolean) {}

  /** Opens (or starts) the state of analysis `key` in `dir`. */
  static open(dir: string, key: string): AnalysisState {
    const file = path.join(dir, `${key}.json`);
    try {
      const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Saved;
      if (s.version === STATE_VERSION && s.key === key) return new AnalysisState(file, s, true);
    } catch {
      // no state yet, or unreadable: start afresh
    }
    return new AnalysisState(file, { version: STATE_VERSION, key, isolated: {}, configurations: {} }, false);
  }

  /** The saved screening, if any. */
  screening(): ScreeningResult | undefined {
    const s = this.saved.screening;
    if (!s) return undefined;
    const maps = (e: [string, [string, NoiseEnergy][]][]) => new Map(e.map(([k, v]) => [k, new Map(v)]));
    return { signal: s.signal, samples: s.samples, buildMs: s.buildMs, runMs: s.runMs, weightNoise: maps(s.weightNoise), activationNoise: maps(s.activationNoise), unsupported: new Map(s.unsupported) };
  }

  /** Saves the screening. */
  saveScreening(r: ScreeningResult): void {
    const arr = (m: Map<string, Map<string, NoiseEnergy>>) => [...m].map(([k, v]) => [k, [...v]] as [string, [string, NoiseEnergy][]]);
    this.saved.screening = { signal: r.signal, samples: r.samples, buildMs: r.buildMs, runMs: r.runMs, weightNoise: arr(r.weightNoise), activationNoise: arr(r.activationNoise), unsupported: [...r.unsupported] };
    this.write();
  }

  /** The saved isolated results of a layer (by candidate id). */
  isolated(layer: string): Record<string, LayerFormatResult> | undefined {
    return this.saved.isolated[layer];
  }

  /** Saves a layer's isolated results. */
  saveIsolated(layer: string, r: Record<string, LayerFormatResult>): void {
    this.saved.isolated[layer] = r;
    this.write();
  }

  /** The memo of measured configurations (saved on every new entry). */
  configurations(): ConfigurationMemo {
    return {
      get: (k) => this.saved.configurations[k],
      set: (k, m) => { this.saved.configurations[k] = m; this.write(); },
    };
  }

  /** The analysis finished: its state is deleted (a new run starts afresh). */
  finish(): void {
    fs.rmSync(this.file, { force: true });
  }

  private write(): void {
    writeFileAtomic(this.file, JSON.stringify(this.saved));
  }
}

/** The key of an analysis: model identity, data identity and every option that changes a number. */
export function analysisKey(modelPath: string, graph: Graph, data: DataSource, first: Record<string, Tensor>, options: unknown): string {
  const h = createHash('sha256');
  h.update(`v${STATE_VERSION}/r${REPORT_SCHEMA_VERSION}\0`);
  let stat: fs.Stats | undefined;
  try { stat = fs.statSync(modelPath); } catch { stat = undefined; }
  if (stat?.isFile()) h.update(`file:${path.resolve(modelPath)}:${stat.size}:${stat.mtimeMs}\0`);
  else h.update(createHash('sha256').update(encodeModelProto(graph.model)).digest('hex'));
  h.update(JSON.stringify(data.description));
  for (const k of Object.keys(first).sort()) {
    const t = first[k];
    h.update(`${k}:${t.type}:${t.dims.join('x')}\0`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  h.update(JSON.stringify(options));
  return h.digest('hex').slice(0, 32);
}
