/** The report panel's view model: metric choice, sorting, filtering, recommendation toggles. Pure, no DOM. */
import type { AnalysisReport, FormatCandidate, LayerFormatResult, LayerReport, Recommendation } from '../src/shared/report';
import type { LayerSpec, Recipe } from '../src/shared/recipe';

/** Columns the layer table sorts by. `db:<formatId>` sorts by that format's error in dB. */
export type SortKey = 'graph' | 'name' | 'op' | 'params' | 'rank' | `db:${string}`;

/** Sort and filter settings of the table. */
export interface TableQuery { sort: SortKey; descending: boolean; filter: string }

/** Default table settings: graph order. */
export const DEFAULT_QUERY: TableQuery = { sort: 'graph', descending: false, filter: '' };

/** Which measurement a layer's dB value comes from, best first. */
export type MetricSource = 'isolated' | 'estimate' | 'local' | 'weight';

/** The SQNR in dB shown for a layer and format: isolated end-to-end, else local, else weight-only. */
export function layerDb(result: LayerFormatResult | undefined): { db: number; source: MetricSource } | undefined {
  if (!result) return undefined;
  if (result.isolated && Number.isFinite(result.isolated.sqnrDb)) return { db: result.isolated.sqnrDb, source: 'isolated' };
  if (result.estimate !== undefined && !Number.isNaN(result.estimate)) return { db: result.estimate, source: 'estimate' };
  if (result.localSqnrDb !== undefined && !Number.isNaN(result.localSqnrDb)) return { db: result.localSqnrDb, source: 'local' };
  if (result.weightSqnrDb !== undefined && !Number.isNaN(result.weightSqnrDb)) return { db: result.weightSqnrDb, source: 'weight' };
  if (result.isolated) return { db: result.isolated.sqnrDb, source: 'isolated' };
  return undefined;
}

/** A dB value as shown: estimated values as "~31.2 dB (est.)". */
export function dbText(v: { db: number; source: MetricSource } | undefined): string {
  if (!v) return '–';
  return v.source === 'estimate' ? `~${formatDbPlain(v.db)} (est.)` : formatDbPlain(v.db);
}

const formatDbPlain = (db: number) => (db === Infinity ? '∞ dB' : `${db.toFixed(1)} dB`);

/** The dB value of a layer under a format id, or undefined. */
export function dbOf(layer: LayerReport, formatId: string): number | undefined {
  return layerDb(layer.formats[formatId])?.db;
}

/** Sensitivity level of an SQNR: < 20 dB high, < 30 dB medium, else low. */
export function sensitivity(db: number | undefined): 'high' | 'medium' | 'low' | 'unknown' {
  if (db === undefined || Number.isNaN(db)) return 'unknown';
  if (db < 20) return 'high';
  if (db < 30) return 'medium';
  return 'low';
}

/** Case-insensitive filter over name, op type and kind; `op:Conv`, `kind:depthwise`, `keep:yes`, `diag:outliers` narrow fields; words AND together. */
export function filterLayers(layers: readonly LayerReport[], filter: string, kept: ReadonlySet<string> = new Set()): LayerReport[] {
  const words = filter.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return layers.slice();
  return layers.filter((l) => words.every((w) => matchWord(l, w, kept)));
}

function matchWord(l: LayerReport, w: string, kept: ReadonlySet<string>): boolean {
  const neg = w.startsWith('-') && w.length > 1;
  const word = neg ? w.slice(1) : w;
  const colon = word.indexOf(':');
  let hit: boolean;
  if (colon > 0) {
    const field = word.slice(0, colon);
    const value = word.slice(colon + 1);
    if (field === 'op') hit = l.opType.toLowerCase().includes(value);
    else if (field === 'kind') hit = l.kind.toLowerCase().includes(value);
    else if (field === 'keep') hit = kept.has(l.name) === (value === 'yes' || value === 'true' || value === '1');
    else if (field === 'diag') hit = l.diagnoses.some((d) => d.code.toLowerCase().includes(value));
    else hit = l.name.toLowerCase().includes(word);
  } else {
    hit = l.name.toLowerCase().includes(word) || l.opType.toLowerCase().includes(word) || l.kind.toLowerCase().includes(word);
  }
  return neg ? !hit : hit;
}

/** Sorts a copy of the layers. Missing dB values sort last in either direction; ties keep graph order. */
export function sortLayers(layers: readonly LayerReport[], sort: SortKey, descending: boolean): LayerReport[] {
  const dir = descending ? -1 : 1;
  const key = (l: LayerReport): number | string | undefined => {
    if (sort === 'graph') return l.nodeIndex;
    if (sort === 'name') return l.name.toLowerCase();
    if (sort === 'op') return l.opType.toLowerCase();
    if (sort === 'params') return l.params;
    if (sort === 'rank') return l.rank > 0 ? l.rank : undefined;
    return dbOf(l, sort.slice(3));
  };
  return layers
    .map((l) => ({ l, k: key(l) }))
    .sort((a, b) => {
      const am = a.k === undefined || (typeof a.k === 'number' && Number.isNaN(a.k));
      const bm = b.k === undefined || (typeof b.k === 'number' && Number.isNaN(b.k));
      if (am !== bm) return am ? 1 : -1;
      if (!am && a.k !== b.k) return (a.k! < b.k! ? -1 : 1) * dir;
      return a.l.nodeIndex - b.l.nodeIndex;
    })
    .map((x) => x.l);
}

/** Filter then sort: the rows the table shows. */
export function queryLayers(layers: readonly LayerReport[], q: TableQuery, kept?: ReadonlySet<string>): LayerReport[] {
  return sortLayers(filterLayers(layers, q.filter, kept), q.sort, q.descending);
}

/** Clicking a column header: same column flips direction, a new one starts ascending (dB: worst first). */
export function toggleSort(q: TableQuery, sort: SortKey): TableQuery {
  if (q.sort === sort) return { ...q, descending: !q.descending };
  return { ...q, sort, descending: false };
}

/** Merges streamed layers into a list by name, keeping graph order. */
export function mergeLayers(current: readonly LayerReport[], incoming: readonly LayerReport[]): LayerReport[] {
  const byName = new Map(current.map((l) => [l.name, l]));
  for (const l of incoming) byName.set(l.name, l);
  return [...byName.values()].sort((a, b) => a.nodeIndex - b.nodeIndex);
}

/** The dB range bars are drawn against: 0 to the largest finite value, rounded up to 10 dB (at least 40). */
export function dbScale(layers: readonly LayerReport[], formats: readonly FormatCandidate[]): number {
  let max = 40;
  for (const l of layers) for (const f of formats) {
    const v = dbOf(l, f.id);
    if (v !== undefined && Number.isFinite(v) && v > max) max = v;
  }
  return Math.ceil(Math.min(max, 200) / 10) * 10;
}

/** A bar's fraction of the full width for a dB value on a 0..scale axis (clamped; infinite = full). */
export function barFraction(db: number | undefined, scale: number): number {
  if (db === undefined || Number.isNaN(db)) return 0;
  if (!Number.isFinite(db)) return db > 0 ? 1 : 0;
  return Math.max(0, Math.min(1, db / scale));
}

/** The recommended set of layers to keep at higher precision (empty without a recommendation). */
export function recommendedKeep(rec: Recommendation | undefined): string[] {
  return rec ? rec.keep.slice() : [];
}

/** The recipe for a set of kept layers: the recommendation's recipe (or the base format) with exactly `keep` at the higher format. */
export function recipeForKeep(report: AnalysisReport, keep: Iterable<string>, repaired?: Iterable<string>): Recipe {
  const rec = report.recommendation;
  const base = rec?.base ?? report.formats.find((f) => f.id === report.primaryFormat) ?? report.formats[0];
  const higher = rec?.higher;
  const keepSet = new Set(keep);
  const start: Recipe = rec?.recipe
    ? structuredCloneRecipe(rec.recipe)
    : { version: 1, model: baseName(report.model.file), defaults: base ? { weights: base.weights, activations: base.activations } : {}, layers: {} };
  const layers: Record<string, LayerSpec | 'float'> = {};
  // The recommendation's repaired layers keep their algorithm only when still repaired in this configuration.
  const stillRepaired = repaired ? new Set(repaired) : undefined;
  for (const [name, spec] of Object.entries(start.layers ?? {})) {
    if (rec?.keep.includes(name)) continue;
    if (stillRepaired && rec?.repaired?.includes(name) && !stillRepaired.has(name)) continue;
    layers[name] = spec;
  }
  // Layers repaired in this configuration but not in the recommendation's recipe get their best algorithm (as the point was measured).
  for (const name of stillRepaired ?? []) {
    const best = report.layers.find((l) => l.name === name)?.repair?.best;
    if (!layers[name] && best && !keepSet.has(name)) layers[name] = { algorithm: best };
  }
  for (const name of keepSet) {
    layers[name] = !higher || (higher.weights === 'float' && higher.activations === 'float') ? 'float' : { weights: higher.weights, activations: higher.activations };
  }
  return { ...start, layers };
}

function structuredCloneRecipe(r: Recipe): Recipe {
  return JSON.parse(JSON.stringify(r)) as Recipe;
}

/** The file name part of a path (either separator). */
export function baseName(p: string): string {
  const i = Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\'));
  return i >= 0 ? p.slice(i + 1) : p;
}

/** Toggles a layer in a keep set, returning a new set. */
export function toggleKeep(keep: ReadonlySet<string>, layer: string): Set<string> {
  const next = new Set(keep);
  if (next.has(layer)) next.delete(layer); else next.add(layer);
  return next;
}
