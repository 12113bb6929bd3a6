/** Pure text for the status bar and jobs list from the engine's job list. No vscode import. */
import type { JobInfo } from '../shared/protocol';

/** Status bar text for running jobs; undefined hides the item. */
export function statusText(jobs: readonly JobInfo[]): string | undefined {
  if (!jobs.length) return undefined;
  if (jobs.length === 1) {
    const j = jobs[0];
    const pct = j.percentage !== undefined ? ` ${Math.round(j.percentage)}%` : '';
    return `$(sync~spin) QuantLens: ${jobLabel(j)}${pct}`;
  }
  return `$(sync~spin) QuantLens: ${jobs.length} jobs`;
}

/** A job in words: `Analyze model.onnx`. */
export function jobLabel(j: JobInfo): string {
  const verbs: Record<string, string> = { inspect: 'Inspect', analyze: 'Analyze', qat: 'QAT', export: 'Export', evaluate: 'Evaluate', recommend: 'Recommend', compare: 'Compare' };
  const verb = verbs[j.kind] ?? j.kind;
  return `${verb} ${baseName(j.model)}`;
}

/** One line describing a job's progress: `42% · layer 12/53 · 1 min 03 s`. */
export function jobDetail(j: JobInfo, now: number): string {
  const parts: string[] = [];
  if (j.percentage !== undefined) parts.push(`${Math.round(j.percentage)}%`);
  if (j.message) parts.push(j.message);
  const started = Date.parse(j.startedAt);
  if (Number.isFinite(started)) parts.push(`${Math.max(0, Math.round((now - started) / 1000))} s`);
  return parts.join(' · ');
}

function baseName(p: string): string {
  const i = Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\'));
  return i >= 0 ? p.slice(i + 1) : p;
}
